#!/usr/bin/env bash
# verify-deps: fail if a package imports a project package it may not
# (ARCHITECTURE.md, "Dependency direction"). Test files are not checked.
set -euo pipefail
mod=$(go list -m)
declare -A allow=(
  [crypto]=""
  [policy]=""
  [audit]=""
  [api/wire]=""
  [api/sigv4]=""
  [fsm]=""
  [transport]=""
  [cluster]="fsm transport"
  [kms]="crypto policy fsm cluster api/wire"
  [replication]="cluster fsm transport crypto"
  [api]="kms api/wire api/sigv4 audit policy"
  [node]="api api/wire api/sigv4 audit cluster crypto fsm kms policy replication transport internal/snapfile internal/metrics"
  [client]="api/wire"
  [cmd/kmsnode]="node api/sigv4 transport internal/opclient"
  [cmd/kmsctl]="client api/wire internal/opclient audit internal/snapfile"
  [cmd/kmsbench]="api/wire internal/loadclient"
  [bench/baseline]=""
  [bench/fill]="api/wire internal/loadclient"
  [internal/loadclient]=""
  [internal/metrics]="cluster fsm audit"
  [internal/opclient]=""
  [internal/snapfile]=""
  [internal/testnode]="node kms"
  [internal/testcluster]="node kms crypto transport internal/testnode"
  [deploy]=""
)
bad=0
stdlib_only="crypto policy audit api/wire api/sigv4"
# The one module the leaves may use besides the standard library: the
# staging copy of encoding/json/v2 (DESIGN.md 18), which becomes the
# standard library when it graduates.
stdlib_next="github.com/go-json-experiment/json"
while read -r pkg imports; do
  rel=${pkg#"$mod"}; rel=${rel#/}
  [ -z "$rel" ] && continue
  if [[ ! -v allow[$rel] ]]; then
    echo "verify-deps: package $rel is not in the dependency table (scripts/verify-deps.sh)"; bad=1; continue
  fi
  for imp in $imports; do
    case $imp in
      "$mod"/*) ;;
      "$stdlib_next" | "$stdlib_next"/*) continue ;;
      *.*/*)
        # Third-party: the leaves are standard library only.
        case " ${stdlib_only} " in *" $rel "*) echo "verify-deps: $rel must use the standard library only, not $imp"; bad=1 ;; esac
        continue ;;
      *) continue ;;
    esac
    dep=${imp#"$mod"/}
    ok=0
    for a in ${allow[$rel]}; do [ "$a" = "$dep" ] && ok=1; done
    if [ $ok = 0 ]; then echo "verify-deps: $rel must not import $dep"; bad=1; fi
  done
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
[ $bad = 0 ] && echo "verify-deps: dependency direction ok"
exit $bad
