"""zcontacts: a self-hosted, wire-compatible Zoho Expense Customers API."""

__version__ = "0.1.0"
