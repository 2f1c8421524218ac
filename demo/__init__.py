"""The demo: accounts, complaints and history seeded for a first start (``seed_demo``)."""
