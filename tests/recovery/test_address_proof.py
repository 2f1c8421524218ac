"""Filing under an existing customer's address: provisional until the address is proven.

Personas (tests/conftest.py): ``customer_user`` owns the address ``customer@example.com``
and has a complaint already; the *filer* is whoever types that address into the public form
(no account: they hold only the tracking link of what they filed); ``agent`` works the
complaints' team, ``other_agent`` another team's.
"""

import re
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from desk import selectors as web_selectors
from notifications import delivery
from notifications.ingest import ingest
from notifications.models import EmailDelivery, Outbox
from notifications.replay import tracking_token
from recovery import access
from recovery.models import Category, Complaint, ComplaintEvent, EventType
from recovery.services import address_proof
from recovery.services.intake import ComplaintIntake, CustomerDetails, complaint_submit
from tests.conftest import api_client
from tests.desk.conftest import signed_in
from tests.notifications.shipped_templates import ensure_default_templates

pytestmark = pytest.mark.django_db

OWNER_NAME = "Olivia Owner"
ADDRESS = "customer@example.com"
TRUSTED_SERVER = "mx.redress.example"


@pytest.fixture(autouse=True)
def _own_cache(settings):
    # The complaint form counts submissions per address in the cache; each test starts at 0.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"address-proof-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def owners_complaint(make_complaint, customer_user, team):
    ensure_default_templates()
    customer = customer_user.customer
    customer.name = OWNER_NAME
    customer.save(update_fields=["name"])
    Category.objects.create(name="Card payments", slug="card-payments", default_team=team)
    return make_complaint(subject="The owner's own complaint")


@pytest.fixture
def filed(owners_complaint):
    """The filer's complaint, sent through the public form under the owner's address."""
    answer = Client().post(
        "/",
        {
            "name": "Mallory Filer",
            "email": ADDRESS.upper(),
            "description": "I was charged twice.\nPlease refund.",
            "category": "card-payments",
            "website": "",
        },
    )
    assert answer.status_code == 302
    return Complaint.objects.select_related("customer").exclude(pk=owners_complaint.pk).get()


def _clocks(complaint) -> list[tuple]:
    return sorted(complaint.clocks.values_list("kind", "started_at", "due_at"))


def _receipt(complaint) -> EmailDelivery:
    row = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.received")
    delivery.deliver(row.pk)
    return EmailDelivery.objects.get(outbox=row)


def _confirm_path(email: EmailDelivery) -> str:
    found = re.search(r"https?://[^/\s]+(/confirm/[^/\s]+/)", email.body_text)
    assert found, email.body_text
    return found.group(1)


# -- taken in at once, on a provisional record --------------------------------------------------


def test_the_form_files_on_a_provisional_record_apart_from_the_owners(
    filed, owners_complaint, customer_user
):
    owner = customer_user.customer
    assert filed.customer != owner
    assert filed.customer.provisional is True
    assert filed.customer.name == "Mallory Filer"
    assert filed.customer.email.lower() == ADDRESS
    assert filed.customer_match == owner
    # Taken in at once: received, routed, its statutory clocks running from receipt.
    assert filed.events.filter(type=EventType.RECEIVED).exists()
    assert filed.team_id == owners_complaint.team_id
    assert filed.clocks.exists()
    assert all(started == filed.received_at for _kind, started, _due in _clocks(filed))

    # The filer's tracking page shows nothing of the owner or their other complaint.
    page = Client().get(f"/track/{tracking_token(filed.pk)}/").content.decode()
    assert filed.reference in page
    assert OWNER_NAME not in page
    assert owners_complaint.reference not in page
    assert "The owner&#x27;s own complaint" not in page

    # The owner's history (their own views, and the desk's beside their complaint) leaves it out.
    assert filed not in access.complaints_visible_to(customer_user)
    listed = api_client(customer_user).get("/api/complaints/").json()
    assert filed.reference not in str(listed)
    assert api_client(customer_user).get(f"/api/complaints/{filed.reference}/").status_code == 404
    assert filed not in web_selectors.customer_history(owners_complaint, filed.team.members.first())


def test_a_second_unproven_filing_gets_its_own_provisional_record(filed, owners_complaint):
    again, _ = complaint_submit(
        actor=filed.events.get(type=EventType.RECEIVED).actor,
        intake=ComplaintIntake(
            subject="Another",
            description="Another one.",
            customer=CustomerDetails(name="Someone Else", email=ADDRESS),
            address_proven=False,
        ),
    )
    assert again.customer.provisional
    assert again.customer not in (filed.customer, owners_complaint.customer)
    assert again.customer_match == owners_complaint.customer


def test_staff_who_say_who_the_customer_is_are_trusted(owners_complaint, agent):
    complaint, _ = complaint_submit(
        actor=agent,
        intake=ComplaintIntake(
            subject="By phone",
            description="Called in.",
            customer=CustomerDetails(name="Olivia", email=ADDRESS),
        ),
    )
    assert complaint.customer == owners_complaint.customer
    assert complaint.customer_match is None


def test_a_new_address_on_the_form_makes_an_ordinary_customer(owners_complaint):
    Client().post("/", {"name": "New Person", "email": "new@example.org", "description": "Hi."})
    complaint = Complaint.objects.get(customer__email="new@example.org")
    assert complaint.customer.provisional is False
    assert complaint.customer_match is None


# -- the link in the receipt ---------------------------------------------------------------


def test_the_receipt_goes_to_the_address_and_its_link_confirms_once(
    filed, owners_complaint, customer_user
):
    clocks_before = _clocks(filed)
    email = _receipt(filed)
    assert email.recipient.lower() == ADDRESS
    assert "confirm it is yours" in email.body_text
    path = _confirm_path(email)

    # Opening the link (a mail scanner does) changes nothing.
    page = Client().get(path)
    assert page.status_code == 200
    assert "Confirm this complaint is mine" in page.content.decode()
    filed.refresh_from_db()
    assert filed.customer_match_id == owners_complaint.customer_id

    done = Client().post(path)

    assert done.status_code == 200
    assert "now on your customer record" in done.content.decode()
    filed.refresh_from_db()
    assert filed.customer_id == owners_complaint.customer_id
    assert filed.customer_match is None
    event = ComplaintEvent.objects.get(complaint=filed, type=EventType.CUSTOMER_ADDRESS_CONFIRMED)
    assert event.parameters["customer_id"] == owners_complaint.customer_id
    assert filed in access.complaints_visible_to(customer_user)
    # Statutory (and every other) clock as it was: started at receipt, same due dates.
    assert _clocks(filed) == clocks_before

    # Single use: the second click, or a reload, says so.
    again = Client().post(path)
    assert again.status_code == 410
    assert "works only once" in again.content.decode()
    assert Client().get(path).status_code == 410
    assert ComplaintEvent.objects.filter(type=EventType.CUSTOMER_ADDRESS_CONFIRMED).count() == 1


def test_an_ordinary_receipt_has_no_confirmation_paragraph(owners_complaint):
    email = _receipt(owners_complaint)
    assert "/confirm/" not in email.body_text
    assert "confirm it is yours" not in email.body_text


def test_an_expired_link_is_gone(filed):
    path = _confirm_path(_receipt(filed))
    later = timezone.now() + timedelta(days=address_proof.CONFIRMATION_LINK_DAYS, minutes=1)
    with time_machine.travel(later):
        for answer in (Client().get(path), Client().post(path)):
            assert answer.status_code == 410
            assert "expired" in answer.content.decode()
    filed.refresh_from_db()
    assert filed.customer_match is not None


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "x" * 5000,
        signing.dumps({"c": 1, "m": 1}, salt="another.salt"),
        signing.dumps({"c": "1", "m": [1]}, salt=address_proof.CONFIRMATION_SALT),
    ],
    # Signed tokens carry the time they were made: ids of their own keep every test process
    # collecting the same tests.
    ids=["garbage", "too-long", "other-salt", "wrong-shapes"],
)
def test_a_tampered_link_is_a_clear_400(filed, token):
    for answer in (Client().get(f"/confirm/{token}/"), Client().post(f"/confirm/{token}/")):
        assert answer.status_code == 400
        assert "not valid" in answer.content.decode()
    filed.refresh_from_db()
    assert filed.customer_match is not None


def test_a_link_for_another_match_does_not_link(filed, other_customer_user):
    forged = signing.dumps(
        {"c": filed.pk, "m": other_customer_user.customer.pk}, salt=address_proof.CONFIRMATION_SALT
    )
    assert Client().post(f"/confirm/{forged}/").status_code == 410
    filed.refresh_from_db()
    assert filed.customer.provisional


# -- what staff see, and linking by hand ----------------------------------------------------


def test_staff_see_the_provisional_state_on_the_page_and_in_the_api(filed, agent, customer_user):
    page = signed_in(agent).get(f"/desk/complaints/{filed.reference}/").content.decode()
    assert (
        "Address not yet confirmed by the customer; possible match: <bdi>Olivia Owner</bdi>" in page
    )

    detail = api_client(agent).get(f"/api/complaints/{filed.reference}/").json()
    assert detail["possible_customer"] == {
        "id": customer_user.customer.pk,
        "name": OWNER_NAME,
        "email": ADDRESS,
    }
    assert detail["customer"]["name"] == "Mallory Filer"


def test_staff_link_by_hand_with_a_reason(filed, agent, customer_user):
    url = f"/desk/complaints/{filed.reference}/link-customer/"
    empty = signed_in(agent).post(url, {"link_customer-reason": ""})
    assert empty.status_code == 400
    assert "Say how you checked" in empty.content.decode()

    emailed = address_proof.confirmation_token(filed)

    answer = signed_in(agent).post(url, {"link_customer-reason": "Called the customer back."})

    assert answer.status_code == 302
    filed.refresh_from_db()
    assert filed.customer_id == customer_user.customer.pk
    assert filed.customer_match is None
    event = ComplaintEvent.objects.get(complaint=filed, type=EventType.CUSTOMER_LINKED_BY_STAFF)
    assert event.actor == agent
    assert event.parameters["reason"] == "Called the customer back."
    assert (
        api_client(agent).get(f"/api/complaints/{filed.reference}/").json()["possible_customer"]
        is None
    )
    page = signed_in(agent).get(f"/desk/complaints/{filed.reference}/").content.decode()
    assert "possible match" not in page
    # Linked already: the emailed link has nothing left to confirm.
    assert Client().post(f"/confirm/{emailed}/").status_code == 410
    again = signed_in(agent).post(url, {"link_customer-reason": "Twice."})
    assert again.status_code == 409


def test_staff_outside_the_team_may_not_link(filed, other_agent):
    answer = signed_in(other_agent).post(
        f"/desk/complaints/{filed.reference}/link-customer/",
        {"link_customer-reason": "I say so."},
    )
    assert answer.status_code == 403
    filed.refresh_from_db()
    assert filed.customer.provisional


# -- email intake ----------------------------------------------------------------------------


def _mail(headers: dict[str, str]) -> bytes:
    message = EmailMessage()
    message["From"] = f"Olivia <{ADDRESS}>"
    message["To"] = "complaints@redress.invalid"
    message["Subject"] = "My card was charged twice"
    message["Message-ID"] = make_msgid(domain="mail.example.com")
    for name, value in headers.items():
        message[name] = value
    message.set_content("Please refund the second charge.")
    return message.as_bytes()


def _results(server: str, dmarc: str) -> dict[str, str]:
    return {
        "Authentication-Results": (
            f"{server}; spf=pass smtp.mailfrom=example.com; "
            f"dkim=pass header.d=example.com; dmarc={dmarc} header.from=example.com"
        )
    }


def test_mail_that_passed_dmarc_joins_the_customers_record(owners_complaint, settings):
    settings.REDRESS_INBOUND_AUTHSERV_IDS = [TRUSTED_SERVER]
    inbound = ingest(_mail(_results(TRUSTED_SERVER, "pass")), source="test")

    opened = Complaint.objects.get(pk=inbound.complaint_id)
    assert opened.customer_id == owners_complaint.customer_id
    assert opened.customer_match is None


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no verdict at all
        _results("mx.forger.example", "pass"),  # a server we do not trust
        _results(TRUSTED_SERVER, "none"),  # trusted, but no DMARC alignment
    ],
)
def test_mail_without_a_trusted_dmarc_pass_waits_on_a_provisional_record(
    owners_complaint, settings, headers
):
    settings.REDRESS_INBOUND_AUTHSERV_IDS = [TRUSTED_SERVER]
    inbound = ingest(_mail(headers), source="test")

    opened = Complaint.objects.select_related("customer").get(pk=inbound.complaint_id)
    assert opened.customer.provisional
    assert opened.customer_match_id == owners_complaint.customer_id
    assert "/confirm/" in _receipt(opened).body_text
