"""SQL storage: tables, repositories and migrations. Imports nothing from services or api."""
