from siyu.iam.models import ApiKey


def test_api_key_authenticates_and_openapi_is_served(org, api_client):
    client = api_client(org, scopes=["iam.user.read"])
    assert ApiKey.objects.count() == 1
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.json()["info"]["title"] == "Siyu API"
