"""Sales tables, one module per use case. Django discovers models through this package, so each module is
imported here once; code imports from the module that defines a model (``siyu.sales.models.leads``)."""

from . import (  # noqa: F401
    activities,
    assignment,
    commerce,  # noqa: E402,F401  (products, quotes, contracts, orders, payments, targets)
    forms,
    jobs,
    leads,
    opportunities,
    pools,
    views,  # saved list filters
)
