"""The hosts a behavioural case runs through, behind one small interface: the embedded
server (driven by pywbem over CIM-XML) and the CMPI adapter (cmpi_pywbem_bindings,
driven through the cmpi-bindings test double's mini CIMOM). A case is a function of a
host; both hosts must give the same answer (tests/test_hosts_parity.py, tests/classes/)."""

from __future__ import annotations

import cmpi
import cmpi_mb
import pywbem

from vrmgmt.cmpi.convert import Converter

NS = "root/virt"


class ServerHost:
    """The embedded server through pywbem."""

    name = "server"

    def __init__(self, conn: pywbem.WBEMConnection):
        self.c = conn

    def enum_names(self, cls, ns=None):
        return self.c.EnumerateInstanceNames(cls, namespace=ns)

    def enum(self, cls, plist=None, ns=None):
        return self.c.EnumerateInstances(cls, namespace=ns, PropertyList=plist)

    def get(self, path, plist=None):
        return self.c.GetInstance(path, PropertyList=plist)

    def assoc_names(self, path, assoc=None, result_class=None, role=None, result_role=None):
        return self.c.AssociatorNames(
            path, AssocClass=assoc, ResultClass=result_class, Role=role, ResultRole=result_role
        )

    def assocs(self, path, assoc=None, plist=None, result_class=None, role=None, result_role=None):
        return self.c.Associators(
            path,
            AssocClass=assoc,
            ResultClass=result_class,
            Role=role,
            ResultRole=result_role,
            PropertyList=plist,
        )

    def refs(self, path, result_class=None, role=None):
        return self.c.References(path, ResultClass=result_class, Role=role)

    def ref_names(self, path, result_class=None, role=None):
        return self.c.ReferenceNames(path, ResultClass=result_class, Role=role)

    def query(self, query, lang="WQL", ns=None):
        return self.c.ExecQuery(lang, query, namespace=ns)

    def invoke(self, path, method, **params):
        rv, _ = self.c.InvokeMethod(
            method, path, **{k: pywbem.Uint16(v) for k, v in params.items()}
        )
        return int(rv)

    def invoke_typed(self, path, method, **params):
        """InvokeMethod with pywbem-typed parameters; (return value, out params)."""
        rv, out = self.c.InvokeMethod(method, path, **params)
        return rv, dict(out)

    def create(self, inst):
        return self.c.CreateInstance(inst)

    def modify(self, inst, plist=None):
        self.c.ModifyInstance(inst, PropertyList=plist)

    def delete(self, path):
        self.c.DeleteInstance(path)

    def call(self, path, method, **params):
        """InvokeMethod with any pywbem-typed parameters (references, arrays, booleans,
        datetimes); (int return value, out params)."""
        rv, out = self.c.InvokeMethod(method, path, **params)
        return int(rv), dict(out)


class CmpiHost:
    """The CMPI adapter through the cmpi-bindings double (MiniMB)."""

    name = "cmpi"

    def __init__(self, mb: cmpi_mb.MiniMB):
        self.mb = mb
        self.conv = Converter(mb.broker, cmpi)

    def _check(self, res):
        if res.status.rc != cmpi.CMPI_RC_OK:
            raise pywbem.CIMError(res.status.rc, res.status.msg)
        return res

    def _cop(self, path):
        """The object path as the mini CIMOM builds it from a request (reference keys
        become object paths of their own)."""
        keys = {
            k: self._cop(v) if isinstance(v, pywbem.CIMInstanceName) else v
            for k, v in path.keybindings.items()
        }
        return self.mb.path(path.classname, keys, ns=path.namespace)

    def _paths(self, res):
        return [self.conv.path_from_cmpi(p) for p in self._check(res).paths]

    def _insts(self, res):
        return [self.conv.instance_from_cmpi(i) for i in self._check(res).instances]

    def enum_names(self, cls, ns=None):
        return self._paths(self.mb.enumerate_instance_names(cls, ns=ns))

    def enum(self, cls, plist=None, ns=None):
        return self._insts(self.mb.enumerate_instances(cls, plist, ns=ns))

    def get(self, path, plist=None):
        return self._insts(self.mb.get_instance(self._cop(path), plist))[0]

    def assoc_names(self, path, assoc=None, result_class=None, role=None, result_role=None):
        return self._paths(
            self.mb.associator_names(self._cop(path), assoc, result_class, role, result_role)
        )

    def assocs(self, path, assoc=None, plist=None, result_class=None, role=None, result_role=None):
        return self._insts(
            self.mb.associators(
                self._cop(path), assoc, result_class, role, result_role, properties=plist
            )
        )

    def refs(self, path, result_class=None, role=None):
        return self._insts(self.mb.references(self._cop(path), result_class, role))

    def ref_names(self, path, result_class=None, role=None):
        return self._paths(self.mb.reference_names(self._cop(path), result_class, role))

    def query(self, query, lang="WQL", ns=None):
        cls = query.split(" FROM ")[1].split()[0] if " FROM " in query else ""
        return self._insts(self.mb.exec_query(cls, query, lang, ns=ns))

    _CTYPES = {"uint16": "CMPI_uint16", "uint32": "CMPI_uint32", "string": "CMPI_string"}

    def invoke_typed(self, path, method, **params):
        """InvokeMethod with pywbem-typed parameters; (return value, out params)."""
        items, others = [], {}
        for k, v in params.items():
            if isinstance(v, str) or getattr(v, "cimtype", None) in self._CTYPES:
                ctype = "CMPI_string" if isinstance(v, str) else self._CTYPES[v.cimtype]
                items.append((k, v if isinstance(v, str) else int(v), getattr(cmpi, ctype)))
            else:  # arrays, references, embedded instances: as the CIMOM passes them
                others[k] = v
        args = self.mb.args(items)
        for k, v in others.items():
            cv, ctype = self._request_value(v, path.namespace)
            args._set(k, cv, ctype)
        res = self._check(self.mb.invoke_method(self._cop(path), method, args))
        return cmpi._plain(res.data[0]), self.conv.args_from_cmpi(res.out)

    def _request_value(self, v, ns):
        """(CMPIValue, CMPIType) of a parameter value as the MB builds it from a client
        request: strings, references, embedded instances and arrays of them."""
        cv = cmpi.CMPIValue()
        if isinstance(v, list):
            sample = next((x for x in v if x is not None), "")
            _, etype = self._request_value(sample, ns)
            arr = cmpi.CMPIArray._make(len(v), etype)
            for i, item in enumerate(v):
                if item is not None:
                    ev, _ = self._request_value(item, ns)
                    arr.set(i, ev, etype)
            cv.array = arr
            return cv, etype | cmpi.CMPI_ARRAY
        if isinstance(v, pywbem.CIMInstanceName):
            cv.ref = self._cop(v)
            return cv, cmpi.CMPI_ref
        if isinstance(v, pywbem.CIMInstance):
            inst = cmpi.CMPIInstance._make(cmpi.CMPIObjectPath._make(ns, v.classname))
            for prop in v.properties.values():
                if prop.value is None:  # a NULL property stays, typed (as CIMOMs keep it)
                    if prop.type in (None, "reference"):
                        continue
                    base = self.conv.type_of[prop.type]
                    inst.set_property(prop.name, None, base | cmpi.CMPI_ARRAY * prop.is_array)
                    continue
                pv, pt = self._typed_value(prop.value, prop.type, ns)
                inst.set_property(prop.name, pv, pt)
            cv.inst = inst
            return cv, cmpi.CMPI_instance
        return self._typed_value(v, "string" if isinstance(v, str) else v.cimtype, ns)

    def _typed_value(self, v, cimtype, ns):
        if cimtype == "reference" or cimtype is None:
            return self._request_value(v, ns)
        base = getattr(cmpi, f"CMPI_{cimtype}")
        member = cmpi.MEMBER_FOR_TYPE[base]
        if isinstance(v, list):
            arr = cmpi.CMPIArray._make(len(v), base)
            for i, item in enumerate(v):
                ev, _ = self._typed_value(item, cimtype, ns)
                arr.set(i, ev, base)
            cv = cmpi.CMPIValue()
            cv.array = arr
            return cv, base | cmpi.CMPI_ARRAY
        cv = cmpi.CMPIValue()
        if member == "string":
            setattr(cv, member, cmpi.CMPIString._make(v))
        elif member == "boolean":
            cv.boolean = int(v)
        else:
            setattr(cv, member, int(v))
        return cv, base

    def create(self, inst):
        inst = inst.copy()
        if inst.path is None:
            inst.path = pywbem.CIMInstanceName(inst.classname, namespace=NS)
        with self.mb.broker._as_mb():  # the MB builds the objects of a request
            cinst = self.conv.instance_to_cmpi(inst, NS)
        return self._paths(self.mb.create_instance(self._cop(inst.path), cinst))[0]

    def modify(self, inst, plist=None):
        with self.mb.broker._as_mb():
            cinst = self.conv.instance_to_cmpi(inst, NS)
        self._check(self.mb.modify_instance(self._cop(inst.path), cinst, plist))

    def delete(self, path):
        self._check(self.mb.delete_instance(self._cop(path)))

    def call(self, path, method, **params):
        """InvokeMethod with any pywbem-typed parameters, as the adapter's converter
        builds CMPI values from them; (int return value, out params)."""
        cargs = cmpi.CMPIArgs._make()
        with self.mb.broker._as_mb():
            self.conv.args_to_cmpi(params, cargs, NS)
        res = self._check(self.mb.invoke_method(self._cop(path), method, cargs))
        return int(cmpi._plain(res.data[0])), self.conv.args_from_cmpi(res.out)

    def invoke(self, path, method, **params):
        items = [(k, int(v), cmpi.CMPI_uint16) for k, v in params.items()]
        res = self._check(self.mb.invoke_method(self._cop(path), method, self.mb.args(items)))
        return cmpi._plain(res.data[0])
