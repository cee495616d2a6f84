"""Lead to cash, second half: products, quotes, contracts, orders, payments, forecasts (see sales/README)."""
