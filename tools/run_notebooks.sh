#!/usr/bin/env bash
# Executes every notebook in notebooks/ headless on Deno's Jupyter kernel and checks the results.
#
#   bash tools/run_notebooks.sh [notebooks/NN_name.ipynb ...]
#
# Needs (Debian): jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel, plus
# mesa-vulkan-drivers for WebGPU on lavapipe; and `npm ci` (deno, plotly.js-dist-min, csv-parse).
# The Deno kernelspec is installed into a private XDG_DATA_HOME under the output folder, pointing at
# this checkout's node_modules/.bin/deno, so nothing outside the run is touched and a fresh clone at
# any path works.
#
# Environment: MLSTM_NB_SIZE=small|full (default small), MLSTM_NB_OUT=<dir> (default: a new temp dir;
# executed notebooks are kept there), MLSTM_NB_TIMEOUT=<s per cell> (default 600).
# A notebook fails when nbconvert fails (a cell raised), when its executed JSON holds an error output,
# or when it holds no application/vnd.plotly.v1+json output (a silently failed npm import).
# Prints one line per notebook and `notebooks: N ok, N failed in Ts (...)`; exit 1 on any failure.
# (Deliberately not the "N passed, N failed" form, so that it never stands in for .ci/run's own line.)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export PATH="$root/node_modules/.bin:$PATH"
export NO_COLOR=1
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export DENO_WEBGPU_BACKEND=${DENO_WEBGPU_BACKEND:-vulkan}
export DENO_NO_UPDATE_CHECK=1
export MLSTM_NB_SIZE=${MLSTM_NB_SIZE:-small}

for tool in deno jupyter /usr/bin/python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run_notebooks: $tool not found (npm ci; apt-get install -y jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel)"
    echo "notebooks: 0 ok, 1 failed"
    exit 1
  fi
done

out=${MLSTM_NB_OUT:-$(mktemp -d /tmp/mlstm_notebooks.XXXXXX)}
mkdir -p "$out"
# Private kernelspec: `deno jupyter --install` writes $XDG_DATA_HOME/jupyter/kernels/deno/kernel.json
# with the absolute path of the deno found on PATH (this checkout's).
export XDG_DATA_HOME="$out/xdg"
export JUPYTER_DATA_DIR="$XDG_DATA_HOME/jupyter"
deno jupyter --install --force >"$out/kernel_install.log" 2>&1 || {
  cat "$out/kernel_install.log"
  echo "run_notebooks: deno jupyter --install failed"
  echo "notebooks: 0 ok, 1 failed"
  exit 1
}

if [ $# -gt 0 ]; then nbs=("$@"); else nbs=(notebooks/[0-9]*.ipynb); fi
passed=0
failed=0
t_all=$(date +%s)
for nb in "${nbs[@]}"; do
  name=$(basename "$nb" .ipynb)
  t0=$(date +%s)
  if jupyter nbconvert --to notebook --execute \
    --ExecutePreprocessor.timeout="${MLSTM_NB_TIMEOUT:-600}" \
    --ExecutePreprocessor.kernel_name=deno \
    --output-dir "$out" --output "$name.out.ipynb" "$nb" >"$out/$name.log" 2>&1; then
    verdict=$(/usr/bin/python3 - "$out/$name.out.ipynb" <<'EOF'
import json, re, sys
nb = json.load(open(sys.argv[1]))
errors, plots, cells, claimed = [], 0, 0, None
for c in nb["cells"]:
    if c["cell_type"] != "code":
        continue
    cells += 1
    for o in c.get("outputs", []):
        if o.get("output_type") == "error":
            errors.append(f'{o.get("ename")}: {o.get("evalue")}'[:200])
        if "application/vnd.plotly.v1+json" in o.get("data", {}):
            plots += 1
        m = re.search(r"OK: (\d+) figure", "".join(o.get("text", "")))
        if m:
            claimed = int(m.group(1))
        if o.get("name") == "stderr" and "error" in "".join(o.get("text", "")).lower():
            errors.append("stderr: " + "".join(o["text"])[:200].replace("\n", " "))
if errors:
    print("FAIL " + " | ".join(errors))
elif plots == 0:
    print(f"FAIL no plotly output in {cells} code cells (a silent npm import failure?)")
elif claimed is None:
    print("FAIL the closing guard cell printed no 'OK: N figure(s)' line")
elif plots < claimed:
    print(f"FAIL {claimed} figures shown but only {plots} plotly outputs saved")
else:
    print(f"ok {plots} plot(s), {cells} code cells")
EOF
)
  else
    verdict="FAIL nbconvert: $(grep -E 'Error|error' "$out/$name.log" | grep -v '^\[NbConvertApp\] Executing' | head -3 | tr '\n' ' ' | cut -c1-300)"
  fi
  dt=$(($(date +%s) - t0))
  printf '%-28s %-4s %4ss  %s\n' "$name" "${verdict%% *}" "$dt" "${verdict#* }"
  if [[ $verdict == ok* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "notebooks: $passed ok, $failed failed in $(($(date +%s) - t_all))s (executed copies in $out)"
[ "$failed" -eq 0 ]
