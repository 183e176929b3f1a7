#!/usr/bin/env sh
# Start the idproof gateway (nginx + ModSecurity + OWASP CRS at PL2) on 127.0.0.1 in front of
# `idproof serve`: deploy/gateway/start.sh --backend 127.0.0.1:8000 --port 8443 [--foreground]
# See deploy/gateway/README.md; all options: python3 tools/gateway.py start --help
exec python3 "$(dirname "$0")/../../tools/gateway.py" start "$@"
