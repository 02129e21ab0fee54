"""The web console at /console: server-rendered pages (Jinja2, plain forms, no JavaScript) over the same
domain functions and the same token, scope and organization checks as the API."""
