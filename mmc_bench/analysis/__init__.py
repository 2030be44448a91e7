"""Reading run folders: tables, the report, figures and label-free scores."""
