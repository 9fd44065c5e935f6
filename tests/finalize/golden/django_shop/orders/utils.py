from requests.exceptions import ConnectionError
RETRY_ON = (ConnectionError,)
