"""VirtualizationProvider: the settings of each VM (VRM_VirtualSystemSettingData and its
resource allocation settings, with their associations) and the virtual system
management service of each host, the virtual devices of each VM (VRM_Processor,
VRM_Memory, VRM_LogicalDisk, VRM_NetworkPort, VRM_SystemDevice) and the service's
VRM_ServiceAffectsElement to the VMs. DSP1042 System Virtualization, DSP1057 Virtual System,
DSP1041 Resource Allocation. Thin: the classes are in vrmgmt.classes.virtualization."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.virtualization import (
    element_capabilities,
    element_setting_data,
    ethernet_port_allocation_setting_data,
    hosted_service,
    logical_disk,
    memory,
    memory_allocation_setting_data,
    network_port,
    processor,
    processor_allocation_setting_data,
    service_affects_element,
    settings_define_state,
    storage_allocation_setting_data,
    system_device,
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
        processor,
        memory,
        logical_disk,
        network_port,
        system_device,
        service_affects_element,
    )
