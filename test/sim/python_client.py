# An independent client: Python's standard xmlrpc.client against the simulator, over TCP or the
# Unix socket (as XenAPI.py's UDSTransport does it). Prints one JSON line with what it observed.
import http.client, json, socket, sys, time, xmlrpc.client

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path):
        super().__init__()
        self.path = path
    def make_connection(self, host):
        return UnixConnection(self.path)

target = sys.argv[1]
if target.startswith("unix:"):
    proxy = xmlrpc.client.ServerProxy("http://localhost/", transport=UnixTransport(target[5:]), allow_none=True)
    user, pwd = "anyone", "whatever"
else:
    proxy = xmlrpc.client.ServerProxy(target, allow_none=True)
    user, pwd = "root", ""

def ok(r):
    if r["Status"] != "Success":
        raise RuntimeError(r["ErrorDescription"])
    return r["Value"]

s = ok(proxy.session.login_with_password(user, pwd, "2.0", "python-test"))
vms = ok(proxy.VM.get_all_records(s))
guests = sorted((r["name_label"], ref) for ref, r in vms.items() if not r["is_a_template"] and not r["is_control_domain"] and not r["is_a_snapshot"])
# A PV guest answers a clean shutdown at once; an HVM guest only once its PV drivers report.
name, vm = next((n, ref) for n, ref in guests if vms[ref]["domain_type"] == "pv")
task = ok(getattr(proxy, "Async").VM.start(s, vm, False, False))
while ok(proxy.task.get_status(s, task)) == "pending":
    time.sleep(0.02)
started = ok(proxy.VM.get_power_state(s, vm))
ok(proxy.VM.clean_shutdown(s, vm))
halted = ok(proxy.VM.get_power_state(s, vm))
bad = proxy.VM.get_record(s, "OpaqueRef:nope")
created = ok(proxy.task.get_created(s, task))
ev = ok(getattr(proxy.event, "from")(s, ["vm"], "", 0.1))
ok(proxy.session.logout(s))
print(json.dumps({
    "guests": [g[0] for g in guests], "started": started, "halted": halted,
    "bad": bad["ErrorDescription"], "created_type": type(created).__name__, "created": str(created),
    "events": len(ev["events"]), "token": ev["token"],
}))
