"""Server memory under 400 connections that trickle 1 MiB bodies signed with an unknown key
(the outside probe of issue 11): the server's VmRSS before and after, and whether /healthz still
answers. Usage: idle_connections.py FLOTILLA_BINARY PORT
"""
import socket, subprocess, sys, time, tempfile, shutil
binary, port = sys.argv[1], int(sys.argv[2])
d = tempfile.mkdtemp()
p = subprocess.Popen([binary, "server", "--listen", f"127.0.0.1:{port}", "--data-dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError: time.sleep(0.1)
time.sleep(1)
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
before = rss()
head = (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n"
        b"X-Amz-Date: 20261206T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIANOTAKEY000000000/20261206/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\n"
        b"Content-Length: 1048576\r\n\r\n")
socks = []
chunk = b"x" * (1048576 - 1)
for i in range(400):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    try:
        s.sendall(head)
        sent = 0
        while sent < len(chunk):
            try:
                sent += s.send(chunk[sent:sent+65536])
            except BlockingIOError:
                break
    except OSError:
        pass
    socks.append(s)
time.sleep(3)
after = rss()
ok = subprocess.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/healthz"], capture_output=True, text=True).stdout
print(f"{binary}: RSS {before} MiB before, {after} MiB with 400 connections trickling 1 MiB bodies under an unknown key; /healthz -> {ok}")
p.kill(); shutil.rmtree(d)
