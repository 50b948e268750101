"""WSGI entry point for `flask --app app`, `waitress-serve app:app`, `python app.py`."""

from readerapp import create_app

app = create_app()

if __name__ == "__main__":
    from waitress import serve

    from readerapp.cli import serving_capacity

    threads, connections = serving_capacity(
        app.config["SERVE_THREADS"], app.config["SERVE_CONNECTIONS"]
    )
    serve(
        app,
        host=app.config["SERVE_HOST"],
        port=app.config["SERVE_PORT"],
        threads=threads,
        connection_limit=connections,
    )
