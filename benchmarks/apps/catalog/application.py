"""A product catalogue page: the benchmark's second app, with the dependency tree of a real service.

Items live in an in-memory SQLite database (SQLAlchemy), are validated by pydantic, their descriptions
are Markdown rendered and sanitised (markdown, bleach), and prices and dates are made readable (babel,
humanize). ``/healthz`` is the smoke test's path; gunicorn.conf.py reads HOST and PORT.
"""

from __future__ import annotations

import datetime as dt

import bleach
import humanize
import markdown
from babel.numbers import format_currency
from flask import Flask, Response
from pydantic import BaseModel, Field
from sqlalchemy import Float, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    price: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(String(500))


class NewItem(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    price: float = Field(gt=0)
    description: str = ""


def create_app() -> Flask:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    started = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        for raw in (
            {"name": "Kettle", "price": 24.5, "description": "Boils *fast*."},
            {"name": "Teapot", "price": 31.0, "description": "Holds **six** cups."},
        ):
            item = NewItem(**raw)
            session.add(Item(name=item.name, price=item.price, description=item.description))
        session.commit()
    app = Flask(__name__)

    @app.get("/")
    def index() -> Response:
        with Session(engine) as session:
            rows = session.scalars(select(Item).order_by(Item.name)).all()
        items = "".join(
            f"<li>{bleach.clean(row.name)}: {format_currency(row.price, 'EUR', locale='en_GB')}"
            f"{bleach.clean(markdown.markdown(row.description), tags={'p', 'em', 'strong'})}</li>"
            for row in rows
        )
        up = humanize.naturaldelta(dt.datetime.now(dt.UTC) - started)
        body = f"<!doctype html>\n<title>catalogue</title>\n<ul>{items}</ul>\n<p>up for {up}</p>\n"
        return Response(body, mimetype="text/html")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain", headers={"Cache-Control": "no-store"})

    return app


app = create_app()
