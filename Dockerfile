FROM python:3.11-slim

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY main.py pyproject.toml ./
COPY src ./src
COPY sql ./sql

RUN useradd --create-home --uid 10001 bluetick && mkdir -p /data && chown bluetick /data
USER bluetick
ENV BLUETICK_DATA_DIR=/data PORT=8080
EXPOSE 8080
CMD ["python", "main.py", "serve"]
