"""Roles of WBEM users and what each may do (docs/security.md "Roles").

Three roles, each including the ones before it:

- ``reader``: every read operation (Get/Enumerate/Associators/References/queries/pulls).
- ``operator``: also power and group-membership changes (RequestStateChange of a VM).
- ``admin``: also everything else that changes state: define/destroy, host power,
  processes, users, subscriptions (Create/Modify/DeleteInstance and every other
  extrinsic method).

The host (embedded server or CMPI adapter) puts the caller's role into
``ProviderContext.role`` and refuses an operation below its required role with
CIM_ERR_ACCESS_DENIED (DSP0200 §5.3.3 status code 2).
"""

from __future__ import annotations

READER = "reader"
OPERATOR = "operator"
ADMIN = "admin"
#: role names, least privileged first
ROLES: tuple[str, ...] = (READER, OPERATOR, ADMIN)
_RANK = {name: i for i, name in enumerate(ROLES)}

#: Role needed for Create/Modify/DeleteInstance: they define and destroy objects
#: (subscriptions, filters, handlers, …), which is admin work.
INSTANCE_CHANGE_ROLE = ADMIN

#: The role an extrinsic method needs comes from its class's method table
#: (vrmgmt.cim.methods: ``@METHODS.method(name, role=...)``); a method no table declares
#: changes state and needs ADMIN (DEFAULT_METHOD_ROLE).
DEFAULT_METHOD_ROLE = ADMIN


def allows(role: str | None, needed: str) -> bool:
    """Whether a user with role may do what needs role `needed` (None: no role at all)."""
    if role is None:
        return False
    return _RANK.get(role, -1) >= _RANK[needed]


def method_role(class_name: str, method: str) -> str:
    """The role needed to invoke class_name.method when its class declares none."""
    return DEFAULT_METHOD_ROLE
