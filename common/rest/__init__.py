"""REST plumbing every app's API shares: fields, parsers, content negotiation, pagination."""
