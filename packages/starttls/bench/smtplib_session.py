"""N SMTP sessions with Python's smtplib in one interpreter: python3 bench/smtplib_session.py PORT CA_FILE [N].

Each session: connect (localhost), greeting, EHLO, STARTTLS with ssl.create_default_context(cafile=CA_FILE) (chain and
host name `localhost` verified; the context is built per session, as netdial builds its own per call), EHLO, QUIT.
Prints a JSON list of per-session durations in ms.
"""
import json, smtplib, ssl, sys, time

port, cafile = int(sys.argv[1]), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1
times = []
for _ in range(n):
    start = time.perf_counter()
    context = ssl.create_default_context(cafile=cafile)
    s = smtplib.SMTP("localhost", port, local_hostname="localhost", timeout=10)
    s.ehlo()
    code, _msg = s.starttls(context=context)
    assert code == 220 and isinstance(s.sock, ssl.SSLSocket)
    s.ehlo()
    code, _msg = s.quit()
    assert code == 221, code
    times.append((time.perf_counter() - start) * 1000)
print(json.dumps(times))
