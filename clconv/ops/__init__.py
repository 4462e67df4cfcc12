"""The device implementations of clconv's ops, one module per op family."""
