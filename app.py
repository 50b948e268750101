"""WSGI entry point for `flask --app app`, `waitress-serve app:app`, `python app.py`."""

from readerapp import create_app

app = create_app()

if __name__ == "__main__":
    from waitress import serve

    serve(app, host=app.config["SERVE_HOST"], port=app.config["SERVE_PORT"])
