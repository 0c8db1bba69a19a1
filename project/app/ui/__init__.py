"""The page: ids, figures, the report, the shell and one module per tab."""
