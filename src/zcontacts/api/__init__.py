"""HTTP only: parse, authorize, call the domain, shape the Zoho envelope."""
