"""MedSite's REST API, version 1 (mounted at /api/v1/ by diagnosis.api_urls; schema at /api/schema/).

Each endpoint does what the web UI does, through the same access helpers (diagnosis.access) and the same
services (diagnosis.services): it parses the input, checks permission (404 for a record of another site,
403 for a role that may not act on it), makes one service call and renders. Responses that carry patient
data are audited as VIEW events, like the pages that show it.

Authentication: a browser session (with the CSRF token in the X-CSRFToken header for writes, as the
drag-and-drop uploader sends it), or ``Authorization: Token <token>`` (accounts.backends.TokenAuthentication).
A user creates their own tokens, signed in, on /accounts/tokens/ (accounts.views.api_tokens); each is stored
only as a digest and expires (MEDSITE_API_TOKEN_TTL_DAYS); superusers' tokens are refused. There is
deliberately no endpoint that trades a password for a token: it would let anyone holding a password skip the
TOTP step that radiologists and admins must pass to sign in.
"""
