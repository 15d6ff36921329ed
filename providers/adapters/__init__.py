"""One module per vendor; only these modules import vendor SDKs."""
