"""The REST API over the complaint core: thin views and serializers that call its services."""
