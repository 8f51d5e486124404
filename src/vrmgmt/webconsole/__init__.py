"""The web console at /console/ (issue 16, docs/console-web.md): static files served by
`vrmgmt serve` beside /cimom, with the security headers and the login sessions of the
browser. The console is a WBEM client: every read and change is a CIM-XML operation on
/cimom (DSP0200), so roles, audit and parity are the same as for any other client.

- static.py: the files of static/ (package data) at /console/, with
  Content-Security-Policy and the other security headers.
- guard.py: the Origin / Sec-Fetch-Site check of /cimom (browsers only; other clients
  send neither header) and the header names the console and the server share.
- sessions.py: login sessions of the console (cookie, in memory).
- app.py: the WSGI application routing /console/ to the files and the rest to /cimom.

The KVM redirection console of VMs (DSP1076) is vrmgmt.classes.console, unrelated.
"""
