"""VRM_ConcreteJob: a job vrmgmt runs for a client (DSP1103 Job Control §7.2-7.4;
CIM_ConcreteJob of CIM Schema 2.49), over the durable store vrmgmt.jobs.

A method that can take longer than about a second calls ``start(call, fn, …)``: the job
is stored and queued, and the method returns 4096 with the job's path in its ``Job``
output parameter. The client polls JobState / PercentComplete; a failed job has
ErrorCode / ErrorDescription and GetError() returns a CIM_Error; RequestStateChange 4
(Terminate) or 5 (Kill) stops a running job (cooperatively).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator

import pywbem
from pywbem import CIMDateTime, CIMError, CIMInstance, CIMInstanceName, Uint16, Uint32

from vrmgmt import errors
from vrmgmt.cim import fastinst
from vrmgmt.cim import indications as ind
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found, to_cim_error
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import MethodResult, ProviderEnv
from vrmgmt.jobs import Job, JobProgress, JobState

CLASS = "VRM_ConcreteJob"
PREFIX = "vrmgmt:job:"

#: CIM_ConcreteJob.RequestStateChange RequestedState values
RS_START, RS_SUSPEND, RS_TERMINATE, RS_KILL, RS_SERVICE = 2, 3, 4, 5, 6
#: CIM_Error.ErrorType 4 = Software Error; PerceivedSeverity 6 = Fatal/NonRecoverable;
#: ProbableCause 1 = Other
ERROR_TYPE_SOFTWARE, SEVERITY_FATAL, CAUSE_OTHER = 4, 6, 1


def path(job_id: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": PREFIX + job_id}, namespace)


def parse(p: CIMInstanceName) -> str:
    """The job id of a VRM_ConcreteJob path (CIM_ERR_NOT_FOUND for a foreign InstanceID)."""
    iid = cim_paths.keys_of(p).get("instanceid")
    if not isinstance(iid, str) or not iid.startswith(PREFIX):
        raise not_found(f"no job {iid!r} (vrmgmt's job InstanceIDs start with {PREFIX!r})")
    return iid[len(PREFIX) :]


def store(env: ProviderEnv):
    if env.jobs is None:
        raise CIMError(pywbem.CIM_ERR_FAILED, "this host offers no job store")
    return env.jobs


# -- starting jobs (called by other classes' methods) ------------------------------------
def start(
    call: MethodCall,
    fn: Callable[[JobProgress], object],
    *,
    name: str,
    description: str,
    affected: list[CIMInstanceName],
) -> MethodResult:
    """Run fn as a job; the method's answer: 4096 and {"Job": path of the job}. The
    element the method was invoked on owns the job (VRM_OwningJobElement); `affected` are
    the elements it acts on (VRM_AffectedJobElement)."""
    owning = call.path if isinstance(call.path, CIMInstanceName) else None
    try:
        job = store(call.env).submit(
            fn,
            name=name,
            description=description,
            owner=call.ctx.user,
            affected=[_uri(p) for p in affected],
            owning=_uri(owning) if owning is not None else None,
        )
    except errors.VrmError as exc:
        raise to_cim_error(exc) from None
    return Uint32(vm_map.RC_JOB_STARTED), {"Job": path(job.id, call.ctx.namespace)}


def _uri(p: CIMInstanceName) -> str:
    q = p.copy()
    q.host = None
    return q.to_wbem_uri()


def element(uri: str) -> CIMInstanceName:
    """An affected or owning element's path, as stored with the job."""
    return CIMInstanceName.from_wbem_uri(uri)


# -- instances ---------------------------------------------------------------------------
def _when(t: float | None) -> CIMDateTime | None:
    return None if t is None else CIMDateTime(_dt.datetime.fromtimestamp(t, _dt.UTC))


def _interval(seconds: float | None) -> CIMDateTime | None:
    return None if seconds is None else CIMDateTime(_dt.timedelta(seconds=seconds))


def _operational_status(job: Job) -> list[Uint16]:
    # CIM_Job: 2 OK, 6 Error, 17 Completed, 15 Dormant (queued), 5 Predictive failure n/a
    if job.state == JobState.COMPLETED:
        return [Uint16(2), Uint16(17)]
    if job.state in (JobState.EXCEPTION, JobState.KILLED, JobState.TERMINATED):
        return [Uint16(6), Uint16(17)]
    if job.state == JobState.NEW:
        return [Uint16(15)]
    return [Uint16(2)]


def instance(job: Job, namespace: str) -> CIMInstance:
    P = fastinst.prop
    failed = job.state == JobState.EXCEPTION
    props = [
        P("InstanceID", PREFIX + job.id, "string"),
        P("Name", job.name, "string"),
        P("ElementName", job.name, "string"),
        P("Description", job.description, "string"),
        P("JobState", Uint16(int(job.state)), "uint16"),
        P("JobStatus", job.status, "string"),
        P("TimeOfLastStateChange", _when(job.time_of_last_state_change), "datetime"),
        P("TimeSubmitted", _when(job.time_submitted), "datetime"),
        P("StartTime", _when(job.start_time), "datetime"),
        P("ElapsedTime", _interval(job.elapsed), "datetime"),
        P("PercentComplete", Uint16(job.percent_complete), "uint16"),
        P("DeleteOnCompletion", bool(job.delete_on_completion), "boolean"),
        P("TimeBeforeRemoval", _interval(job.time_before_removal), "datetime"),
        P("ErrorCode", Uint16(job.error_code) if job.error_code is not None else None, "uint16"),
        P("ErrorDescription", job.error_description if failed else None, "string"),
        P("Owner", job.owner, "string"),
        P("OperationalStatus", _operational_status(job), "uint16", True),
        P("HealthState", Uint16(vm_map.HS_MAJOR_FAILURE if failed else vm_map.HS_OK), "uint16"),
    ]
    return fastinst.instance(CLASS, props, path(job.id, namespace))


def watch(env: ProviderEnv) -> None:
    """Job completion indications (DSP1054 §7; DSP1103 §7.2): CIM_InstModification of
    the job, PreviousInstance as it ran, when a job of this process finishes."""
    st = env.jobs
    if st is None:
        return
    ns = env.namespace
    pump = ind.EventPump(env, "job-indications")

    def finished(running: Job, done: Job) -> None:
        pump.submit(
            lambda: [(ns, ind.inst_modification(instance(done, ns), instance(running, ns)))]
        )

    st.watch(finished)


def jobs(env: ProviderEnv) -> list[Job]:
    return store(env).list() if env.jobs is not None else []


def by_path(env: ProviderEnv, p: CIMInstanceName) -> Job | None:
    """The job a path names, None if there is none (or no job store)."""
    if env.jobs is None:
        return None
    try:
        return env.jobs.get(parse(p))
    except (CIMError, errors.NotFound):
        return None


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    if paths is None:
        for job in jobs(env):
            yield instance(job, namespace)
        return
    for p in paths:
        try:
            yield instance(store(env).get(parse(p)), namespace)
        except (CIMError, errors.NotFound) as exc:
            if len(paths) == 1:
                raise not_found(f"no job {cim_paths.keys_of(p).get('instanceid')!r}") from exc


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for job in jobs(env):
        yield path(job.id, namespace)


def modify(env: ProviderEnv, ctx, inst: CIMInstance, property_list) -> None:
    """ModifyInstance: DeleteOnCompletion and TimeBeforeRemoval are writable (CIM_Job,
    CIM_ConcreteJob Write qualifiers); nothing else is."""
    job_id = parse(inst.path)
    writable = {"deleteoncompletion", "timebeforeremoval"}
    if property_list is None:  # the whole instance came back: take what may change
        wanted = {p.lower() for p in inst if p.lower() in writable}
    else:
        wanted = {p.lower() for p in property_list}
    other = sorted(p for p in wanted if p not in writable and p != "instanceid")
    if other:
        raise CIMError(
            pywbem.CIM_ERR_NOT_SUPPORTED,
            f"only DeleteOnCompletion and TimeBeforeRemoval of a job can be modified, not "
            f"{', '.join(other)}",
        )
    kw = {}
    if "deleteoncompletion" in wanted and "DeleteOnCompletion" in inst:
        kw["delete_on_completion"] = bool(inst["DeleteOnCompletion"])
    if "timebeforeremoval" in wanted and inst.get("TimeBeforeRemoval") is not None:
        value = inst["TimeBeforeRemoval"]
        if not isinstance(value, CIMDateTime) or not value.is_interval:
            raise CIMError(
                pywbem.CIM_ERR_INVALID_PARAMETER, "TimeBeforeRemoval must be a datetime interval"
            )
        kw["time_before_removal"] = value.timedelta.total_seconds()
    try:
        store(env).set_lifetime(job_id, **kw)
    except errors.NotFound as exc:
        raise not_found(str(exc)) from None
    env.audit(
        user=ctx.user,
        action="ModifyInstance",
        target=f"{CLASS}.InstanceID={PREFIX}{job_id}",
        outcome=f"lifetime set: {kw}",
    )


# -- methods -----------------------------------------------------------------------------
METHODS = MethodTable()


@METHODS.method("RequestStateChange", role="operator")
def request_state_change(call: MethodCall, requested_state=None, timeout_period=None):
    """DSP1103 §8.1: 4 Terminate and 5 Kill stop a running job; Start, Suspend and
    Service are not supported (vrmgmt's jobs cannot be suspended)."""
    job_id = parse(call.instance_path)
    if requested_state is None:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "RequestedState is required")
    if timeout_period is not None:
        return Uint32(vm_map.RC_TIMEOUT_NOT_SUPPORTED), {}
    st = store(call.env)
    outcome = ""
    try:
        if int(requested_state) == RS_KILL:
            st.kill(job_id)
            outcome = "kill requested"
        elif int(requested_state) == RS_TERMINATE:
            st.terminate(job_id)
            outcome = "terminate requested"
        elif int(requested_state) in (RS_START, RS_SUSPEND, RS_SERVICE):
            outcome = "not supported"
            return Uint32(vm_map.RC_NOT_SUPPORTED), {}
        else:
            outcome = "invalid RequestedState"
            return Uint32(vm_map.RC_INVALID_PARAMETER), {}
    except errors.InvalidStateTransition as exc:
        outcome = f"invalid transition: {exc}"
        return Uint32(vm_map.RC_INVALID_STATE_TRANSITION), {}
    except errors.NotFound as exc:
        outcome = "no such job"
        raise not_found(str(exc)) from None
    finally:
        call.env.audit(
            user=call.ctx.user,
            action=f"RequestStateChange({requested_state})",
            target=f"{CLASS}.InstanceID={PREFIX}{job_id}",
            outcome=outcome,
        )
    return Uint32(vm_map.RC_COMPLETED), {}


def _error_instance(job: Job) -> CIMInstance | None:
    if job.state != JobState.EXCEPTION:
        return None
    return CIMInstance(
        "CIM_Error",
        properties={
            "ErrorType": Uint16(ERROR_TYPE_SOFTWARE),
            "OwningEntity": "vrmgmt",
            "MessageID": f"VRM{int(job.error_code or 0):04d}",
            "Message": job.error_description or "the job failed",
            "PerceivedSeverity": Uint16(SEVERITY_FATAL),
            "ProbableCause": Uint16(CAUSE_OTHER),
            "ErrorSource": f"{CLASS}.InstanceID={PREFIX}{job.id}",
            "ErrorSourceFormat": Uint16(2),  # CIMObjectPath
            "CIMStatusCode": Uint32(pywbem.CIM_ERR_FAILED),
        },
    )


def _job(call: MethodCall) -> Job:
    try:
        return store(call.env).get(parse(call.instance_path))
    except errors.NotFound as exc:
        raise not_found(str(exc)) from None


@METHODS.method("GetError", role="reader")
def get_error(call: MethodCall):
    """0 and the failed job's error as an embedded CIM_Error (NULL when it did not fail)."""
    return Uint32(0), {"Error": _error_instance(_job(call))}


@METHODS.method("GetErrors", role="reader")
def get_errors(call: MethodCall):
    err = _error_instance(_job(call))
    return Uint32(0), {"Errors": [err] if err is not None else []}
