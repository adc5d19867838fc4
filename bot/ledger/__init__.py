"""Per-guild credits: balances, the append-only journal, export (all credit-table SQL)."""
