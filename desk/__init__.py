"""Server-rendered pages: the customer portal, the agent desk and the supervisor board.

Views here are thin: a form checks the input field by field, a service in
``recovery.services``, ``escalation.services`` or ``notifications`` does the work, and a
``RedressError`` it raises is shown on the form, never as a server error.
"""
