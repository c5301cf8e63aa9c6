# Internet10 service image: the app (Hypercorn) and the job worker share it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# PDF and PNG reports: Pango, HarfBuzz's subsetter and Cairo, and the fonts they draw with.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libcairo2 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --uid 10001 internet10

COPY pyproject.toml README.md babel.cfg ./
COPY internet10 ./internet10
COPY scheduler ./scheduler
COPY integrations ./integrations
COPY templates ./templates
RUN pip install . && pybabel compile -d internet10/translations
# Run the code in /app, not the copy pip put in site-packages: the templates sit beside the
# package (../templates) and the compiled catalogs are here; site-packages has neither.
ENV PYTHONPATH=/app

USER internet10
EXPOSE 8000
CMD ["internet10", "serve", "--bind", "0.0.0.0:8000", "--workers", "2"]
