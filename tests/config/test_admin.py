"""Every admin page opens: each registered model's list and, where a row exists, its form."""

import pytest
from django.contrib import admin

from tests.conftest import acknowledge
from tests.factories import UserFactory


@pytest.mark.django_db
def test_every_registered_admin_page_opens_for_a_superuser(client, make_complaint, agent):
    # Rows for the complaint-side models; migrations provide stages, policies and templates.
    acknowledge(make_complaint(), agent)
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)

    failures = []
    for model in admin.site._registry:
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        answer = client.get(changelist)
        if answer.status_code != 200:
            failures.append((changelist, answer.status_code))
        row = model.objects.first()
        if row is not None:
            change = f"{changelist}{row.pk}/change/"
            answer = client.get(change)
            if answer.status_code != 200:
                failures.append((change, answer.status_code))

    assert len(admin.site._registry) >= 20
    assert failures == []
