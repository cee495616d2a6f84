"""Named operations of quotes, contracts, orders, payments and targets (imported by the approval wiring at start-up)."""

from siyu.kernel.permissions import declare

declare(
    ("sales.quote.read", "View products, price books and quotes"),
    ("sales.quote.create", "Create and revise quotes"),
    ("sales.quote.update", "Edit draft quotes and submit them for approval"),
    ("sales.quote.manage", "Manage products and price books"),
    ("sales.contract.read", "View contracts"),
    ("sales.contract.create", "Create contracts"),
    ("sales.contract.update", "Edit draft contracts, amend and submit them for approval"),
    ("sales.order.read", "View orders"),
    ("sales.order.create", "Create orders from contracts or external systems"),
    ("sales.payment.read", "View payment plans, receipts and receivables"),
    ("sales.payment.create", "Add payment plans and record receipts"),
    ("sales.target.read", "View forecasts, targets and their progress"),
    ("sales.target.manage", "Set sales targets and take forecast snapshots"),
)
