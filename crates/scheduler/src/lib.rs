//! Pure placement and reconciliation logic (being written).
