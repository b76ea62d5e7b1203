# The consumer image. Build it with ca-consume-deploy build (or by hand):
#   DOCKER_BUILDKIT=1 docker build --secret id=pipconf,src=pip.conf -t application:1 .
# where pip.conf holds "[global]\nindex-url = https://aws:TOKEN@DOMAIN-ACCOUNT.d.codeartifact.REGION.amazonaws.com/pypi/REPO/simple/".
#
# Why it looks like this (the walkthrough's version passed the token as a build arg and copied
# everything before pip install):
# - the index URL with its token reaches the installer only through a BuildKit secret mount: it is
#   never in a layer, the image config, `docker history`, a build arg or argv;
# - requirements are installed in their own layer before the code is copied, so a code change reuses
#   the dependency layer instead of reinstalling everything;
# - dependencies go into a virtual environment; the installer and its download cache are mounted for
#   that one step, so the image gets only the venv (no installer, no cache, no pip inside the venv); a venv also keeps
#   the install clear of Debian's externally-managed system Python when BASE_IMAGE is plain Debian;
# - the application runs as an unprivileged uid under gunicorn rather than Flask's dev server.
# - ca-consume-deploy builds with BUILDKIT_INLINE_CACHE=1 and --cache-from the previous image in the
#   registry, so an agent with an empty engine reuses the dependency layer (see the README).
# No "# syntax=" line: the Dockerfile frontend built into Docker 20.10+ understands RUN --mount.
ARG BASE_IMAGE=python:3.12-slim
# uv, not pip, installs the dependencies: it fetches the index pages and wheels in parallel where pip
# goes one project at a time, and needs no Python start-up or venv module. ca-consume-deploy either
# serves its own uv to the step (the secret `uv` holds the address, UV_IMAGE is scratch) or passes
# UV_IMAGE, an image it makes from its own uv (nothing is pulled); by hand, astral's image is pulled.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
FROM ${UV_IMAGE} AS uv

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# One stage: uv and requirements.txt are bind-mounted into a tmpfs on /tmp and uv's download cache is a
# cache mount, so none of them (nor a mount point) is in any layer (the file's content is still part of
# this step's cache key) and the step adds one layer, the venv. A served uv is fetched into that tmpfs
# with the base image's python3 (slim images have no curl); if it cannot be, the step says so and
# ca-consume-deploy builds again with uv's image. No second stage to copy it into: on an empty engine that copy cost more than the
# install. The secret is a pip.conf (what pip and older Dockerfiles read); its index-url, timeout and
# retries become uv's variables for this one command only: never an ENV, a build arg, argv or a layer.
# A requirements change on a warm agent downloads only what changed. The cache is mounted on /var/cache,
# which the base image has, rather than on /var/cache/uv: a mount point that must be created is left in
# the layer as an empty directory.
# requirements.txt pins every distribution, so `uv pip sync` installs it without resolving (a resolution
# asks the index for each wheel's metadata first: on an index without range requests, such as devpi,
# that is a second download of every wheel); if the file is not complete after all, `uv pip check`
# says so and `uv pip install` resolves what is missing.
RUN --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    --mount=type=bind,from=uv,target=/tmp/uv \
    --mount=type=secret,id=pipconf,required=true \
    --mount=type=secret,id=uv \
    --mount=type=tmpfs,target=/tmp \
    --mount=type=cache,id=ca-uv-cache,target=/var/cache,sharing=locked \
    bin=/tmp/uv && \
    if [ -s /run/secrets/uv ]; then \
        bin=/tmp/served && mkdir $bin && \
        python3 -c 'import shutil, sys, urllib.request as r; shutil.copyfileobj(r.urlopen(open(sys.argv[1]).read().strip(), timeout=30), open(sys.argv[2], "wb"))' /run/secrets/uv $bin/uv && \
        chmod 755 $bin/uv || { echo "uv is not reachable from this build ($(cat /run/secrets/uv))" >&2; exit 1; }; \
    fi && \
    conf=/run/secrets/pipconf && \
    PATH="$bin:$PATH" \
    UV_INDEX_URL="$(sed -n 's/^index-url *= *//p' $conf)" \
    UV_HTTP_TIMEOUT="$(sed -n 's/^timeout *= *//p' $conf)" \
    UV_HTTP_RETRIES="$(sed -n 's/^retries *= *//p' $conf)" \
    UV_INSECURE_HOST="$(sed -n 's/^trusted-host *= *//p' $conf)" \
    UV_CACHE_DIR=/var/cache/uv UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1 \
    sh -c 'uv venv --quiet --python "$(command -v python3)" /opt/venv && \
        uv pip sync --python /opt/venv/bin/python --only-binary :all: /tmp/requirements.txt && \
        { uv pip check --quiet --python /opt/venv/bin/python || \
          uv pip install --python /opt/venv/bin/python --only-binary :all: --requirement /tmp/requirements.txt; }'

ENV PATH=/opt/venv/bin:$PATH
# A numeric uid with no passwd entry: non-root without a RUN useradd layer (orchestrators that check
# runAsNonRoot need a numeric USER anyway); the code stays root-owned, so the app cannot rewrite it.
USER 10001:10001
EXPOSE 8080
CMD ["gunicorn", "--chdir", "/app", "--config", "/app/gunicorn.conf.py", "application:app"]
# Last, so that a code change rebuilds this one layer and nothing else.
COPY gunicorn.conf.py application.py /app/
