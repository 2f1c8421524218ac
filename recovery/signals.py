"""What the core announces to the apps around it without importing them.

The notifications app listens (``NotificationsConfig.ready``) and closes or re-checks the
websockets these credentials opened; the core does not know websockets exist.
"""

from django.dispatch import Signal

# A user's API token (``token_key``), or every credential (``token_key`` None: all tokens
# revoked, password changed, account deactivated), no longer opens anything. Sent inside the
# revoking transaction; receivers act after commit.
credentials_revoked = Signal()  # user_id, token_key

# A complaint's tracking links were re-issued: sockets opened with an older one must go.
tracking_link_changed = Signal()  # complaint_id
