"""The shoplens web service and command line."""
