"""Money: tenants' balances, per-second prices, and the reserve → settle → refund ledger."""

from reelgate.billing.hooks import BillingHooks
from reelgate.billing.prices import TablePricer

__all__ = ["BillingHooks", "TablePricer"]
