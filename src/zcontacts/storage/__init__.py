"""The only code that imports SQLAlchemy."""
