"""Pages of a list, with a page size that is checked, not silently replaced."""

from rest_framework.pagination import PageNumberPagination

from common.errors import ValidationFailed


class CheckedPageNumberPagination(PageNumberPagination):
    """``?page_size=`` must be a whole number of at least 1; above ``max_page_size`` it is
    capped. DRF would answer a full default page for ``page_size=abc``, which a client takes
    for the size it asked for."""

    page_size_query_param = "page_size"

    def get_page_size(self, request):
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return self.page_size
        try:
            size = int(given)
        except ValueError:
            size = 0
        if size < 1:
            message = (
                f"page_size must be a whole number from 1 (at most {self.max_page_size} apply)."
            )
            raise ValidationFailed(message, details={self.page_size_query_param: [message]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"Results per page, default {self.page_size}; more than "
                    f"{self.max_page_size} gives {self.max_page_size}."
                )
        return parameters
