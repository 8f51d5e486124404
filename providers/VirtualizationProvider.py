"""VirtualizationProvider: the settings of each VM (VRM_VirtualSystemSettingData and its
resource allocation settings, with their associations) and the virtual system
management service of each host. DSP1042 System Virtualization, DSP1057 Virtual System,
DSP1041 Resource Allocation. Thin: the classes are in vrmgmt.classes.virtualization."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.virtualization import (
    element_capabilities,
    element_setting_data,
    ethernet_port_allocation_setting_data,
    hosted_service,
    memory_allocation_setting_data,
    processor_allocation_setting_data,
    settings_define_state,
    storage_allocation_setting_data,
    virtual_system_management_capabilities,
    virtual_system_management_service,
    virtual_system_setting_data,
    virtual_system_setting_data_component,
)


def get_providers(env):
    return serve(
        env,
        virtual_system_setting_data,
        processor_allocation_setting_data,
        memory_allocation_setting_data,
        storage_allocation_setting_data,
        ethernet_port_allocation_setting_data,
        virtual_system_setting_data_component,
        settings_define_state,
        element_setting_data,
        virtual_system_management_service,
        virtual_system_management_capabilities,
        hosted_service,
        element_capabilities,
    )
