"""Local HTTP servers that speak each provider's wire protocol, for contract and load tests."""
