"""Sales tables, one module per use case. Django discovers models through this package, so each module is
imported here once; code imports from the module that defines a model (``siyu.sales.models.leads``)."""

from . import activities, assignment, forms, jobs, leads, opportunities, pools  # noqa: F401
from . import commerce  # noqa: E402,F401  (products, quotes, contracts, orders, payments, targets)
