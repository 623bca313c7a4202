# Serves case i of cases.py at /c/<i> with the Content-Type of its format (port: argv[1]).
import http.server
from cases import cases
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        i = int(self.path.split('/')[-1])
        fmt, body = cases[i]
        self.send_response(200)
        self.send_header('Content-Type', 'application/openmetrics-text; version=1.0.0; charset=utf-8' if fmt == 'om' else 'text/plain; version=0.0.4; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
import sys
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
