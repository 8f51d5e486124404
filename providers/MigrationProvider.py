"""MigrationProvider: each host's virtual system migration service, its capabilities
and its default migration settings: DSP1081 Virtual System Migration 1.0.0
(docs/migration.md). Thin: the classes are in vrmgmt.classes.migration."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.migration import (
    virtual_system_migration_capabilities,
    virtual_system_migration_service,
    virtual_system_migration_setting_data,
)


def get_providers(env):
    return serve(
        env,
        virtual_system_migration_service,
        virtual_system_migration_capabilities,
        virtual_system_migration_setting_data,
    )
