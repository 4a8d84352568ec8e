"""One module per integration type; each registers itself (conveyor/integrations/types.py)."""
