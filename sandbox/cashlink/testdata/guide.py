import binascii
import os
import requests
URL = os.environ['URL']
CLIENT_ID = os.environ['CLIENT_ID']
CLIENT_SECRET = os.environ['CLIENT_SECRET']
CAMPAIGN_ID = os.environ['CAMPAIGN_ID']
PRODUCT_ID = os.environ['PRODUCT_ID']
INVESTOR_ID = os.environ['INVESTOR_ID']
def authenticate():
    r = requests.post(f'{URL}/oauth/token', data={
        'grant_type': 'client_credentials',
        'scope': 'investors:write investments:write investments:read documents:write',
        'client_id': CLIENT_ID,
        'client_secret': CLIENT_SECRET
    })
    assert r.status_code == 200, r.content
    return r.json()['access_token']
def make_key():
    return binascii.hexlify(os.urandom(8)).decode()
if __name__ == '__main__':
    headers = {
        'Authorization': f'Bearer {authenticate()}',
    }
    # create an investment with units, disagio (if applicable) and signed documents
    # 1. upload signed documents to reference them later
    r = requests.post(
        f'{URL}/v2/documents/',
        files={'file': ('signed_doc_1.pdf', b'ASD', 'application/pdf')},
        headers={**headers, 'X-Idempotency-Key': make_key()}
    )
    assert r.status_code < 300, r.content
    doc_1_id = r.json()['id']
    r = requests.post(
        f'{URL}/v2/documents/',
        files={'file': ('signed_doc_2.pdf', b'ASD', 'application/pdf')},
        headers={**headers, 'X-Idempotency-Key': make_key()}
    )
    assert r.status_code < 300, r.content
    doc_2_id = r.json()['id']
    # 2. create investment
    r = requests.post(
        f'{URL}/v2/investments/',
        json={
            'campaign_id': CAMPAIGN_ID,
            'investor_id': INVESTOR_ID,
            'units': 300,
            'signed_at': '2021-03-12T07:14:13.630308+00:00',
            'accepted_at': '2021-03-12T07:14:13.630308+00:00',
            'paid_at': '2021-03-12T07:14:13.630308+00:00',
            'signed_documents': [{
                'document_id': doc_1_id,
                'category': 'category 1',
                'subject': 'subject 1',
            }, {
                'document_id': doc_2_id,
                'category': 'category 2',
                'subject': 'subject 2',
            }]
        },
        headers={**headers, 'X-Idempotency-Key': make_key()}
    )
    assert r.status_code < 300, r.content
    investment_id = r.json()['id']
    # get wallet for investor
    r = requests.get(
        f'{URL}/v2/investors/{INVESTOR_ID}/wallets/',
        headers={**headers}
    )
    assert r.status_code < 300, r.content
    # investor must at least have a single wallet
    investor_wallets = r.json()
    assert len(investor_wallets) > 0
    wallet_id = investor_wallets[0]['id']
    # ... and patch investment to set wallet
    r = requests.patch(
        f'{URL}/v2/investments/{investment_id}/',
        json={
            'wallet': wallet_id
        },
        headers={**headers}
    )
    assert r.status_code < 300, r.content
    # Initiate credit of digital securities
    r = requests.post(
        f'{URL}/v2/investments/{investment_id}/credits/',
        headers={**headers, 'X-Idempotency-Key': make_key()}
    )
    assert r.status_code < 300, r.content
    r = requests.get(
        f'{URL}/v2/investments/{investment_id}/',
        headers={**headers}
    )
    assert r.status_code < 300, r.content
    status = r.json()['status']
    print(investment_id)
    print(status)
    # Create redemption for investor and product
    r = requests.post(
        f'{URL}/v2/redemptions/',
        json={
            'investor_id': INVESTOR_ID,
            'product_id': PRODUCT_ID,
            'wallet_id': wallet_id,
            'units': 300
        },
        headers={**headers, 'X-Idempotency-Key': make_key()}
    )
    assert r.status_code < 300
