"""The registry of inbound actions: `ACTIONS["inventory.set"]` is its Action."""

from __future__ import annotations

from actions.base import Action, PlatformCall, Semantics
from actions.catalog import PriceSet, ProductUpsert
from actions.customers import CustomerUpsert
from actions.inventory import InventoryAdjust, InventorySet
from actions.orders import OrderCreate, OrderUpdate

ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        InventorySet(),
        InventoryAdjust(),
        OrderCreate(),
        OrderUpdate(),
        ProductUpsert(),
        PriceSet(),
        CustomerUpsert(),
    )
}

SUPPORTED_ACTIONS = tuple(ACTIONS)

__all__ = ["ACTIONS", "SUPPORTED_ACTIONS", "Action", "PlatformCall", "Semantics"]
