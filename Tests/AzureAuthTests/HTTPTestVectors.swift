// Copied verbatim from shared/protocol/http/test_vectors.json (computed by Azure's own SDK signing code),
// embedded so the tests do not depend on where the shared notes sit relative to the checkout.
let httpTestVectorsJSON = #"""
{
  "cosmos": [
    {
      "desc": "database account (GET /)",
      "verb": "GET",
      "resourceType": "",
      "resourceLink": "",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "get\n\n\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=pTYhS4ox9QI3Bc8GVhbE/l3B/UQLk86E2gdybMBk1rU=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DpTYhS4ox9QI3Bc8GVhbE%2Fl3B%2FUQLk86E2gdybMBk1rU%3D"
    },
    {
      "desc": "read database GET /dbs/testdb/",
      "verb": "GET",
      "resourceType": "dbs",
      "resourceLink": "dbs/testdb",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "get\ndbs\ndbs/testdb\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=Q7byK9VWCHYbSbh20epnQznc7J4FmFvm72wjzmXVcEs=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DQ7byK9VWCHYbSbh20epnQznc7J4FmFvm72wjzmXVcEs%3D"
    },
    {
      "desc": "create database POST /dbs",
      "verb": "POST",
      "resourceType": "dbs",
      "resourceLink": "",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "post\ndbs\n\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=LNm/VsKZuCjcmT+6DGINeQ4at7RHRVzrcMT3AjDqKpQ=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DLNm%2FVsKZuCjcmT%2B6DGINeQ4at7RHRVzrcMT3AjDqKpQ%3D"
    },
    {
      "desc": "create container POST /dbs/testdb/colls/",
      "verb": "POST",
      "resourceType": "colls",
      "resourceLink": "dbs/testdb",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "post\ncolls\ndbs/testdb\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=oJ9eAHCPksQBWNltWs1nDhYJLjayZaq0/cC/kI+ozlY=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DoJ9eAHCPksQBWNltWs1nDhYJLjayZaq0%2FcC%2FkI%2BozlY%3D"
    },
    {
      "desc": "read container GET /dbs/testdb/colls/testcoll/",
      "verb": "GET",
      "resourceType": "colls",
      "resourceLink": "dbs/testdb/colls/testcoll",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "get\ncolls\ndbs/testdb/colls/testcoll\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=gMabtu6kVpxSGyfTLxRlow3wFoRBADua2ehcCRExPKM=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DgMabtu6kVpxSGyfTLxRlow3wFoRBADua2ehcCRExPKM%3D"
    },
    {
      "desc": "read pk ranges GET /dbs/testdb/colls/testcoll/pkranges/",
      "verb": "GET",
      "resourceType": "pkranges",
      "resourceLink": "dbs/testdb/colls/testcoll",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "get\npkranges\ndbs/testdb/colls/testcoll\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=CimzDqRpC5TrTbvpcZH+QX3ISj5gHI9TbPlWA8zQvRc=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DCimzDqRpC5TrTbvpcZH%2BQX3ISj5gHI9TbPlWA8zQvRc%3D"
    },
    {
      "desc": "create/upsert/query POST .../docs/",
      "verb": "POST",
      "resourceType": "docs",
      "resourceLink": "dbs/testdb/colls/testcoll",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "post\ndocs\ndbs/testdb/colls/testcoll\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=Ih2E7gbi6zVeCIXB4oMGQf3FW5SwgDrMWgdFjJKU4Us=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DIh2E7gbi6zVeCIXB4oMGQf3FW5SwgDrMWgdFjJKU4Us%3D"
    },
    {
      "desc": "read item GET .../docs/item%201/",
      "verb": "GET",
      "resourceType": "docs",
      "resourceLink": "dbs/testdb/colls/testcoll/docs/item 1",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "get\ndocs\ndbs/testdb/colls/testcoll/docs/item 1\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=jrwWSgRYp+Ly5ZHnExJ3PhDr92jzXJk0r7bhoCmXOn4=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DjrwWSgRYp%2BLy5ZHnExJ3PhDr92jzXJk0r7bhoCmXOn4%3D"
    },
    {
      "desc": "replace item",
      "verb": "PUT",
      "resourceType": "docs",
      "resourceLink": "dbs/testdb/colls/testcoll/docs/item 1",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "put\ndocs\ndbs/testdb/colls/testcoll/docs/item 1\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=9ymFaVhmkPwk+E+YAUowdk7NA0jiY4SlbgONp/Pb6lc=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3D9ymFaVhmkPwk%2BE%2BYAUowdk7NA0jiY4SlbgONp%2FPb6lc%3D"
    },
    {
      "desc": "patch item",
      "verb": "PATCH",
      "resourceType": "docs",
      "resourceLink": "dbs/testdb/colls/testcoll/docs/item 1",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "patch\ndocs\ndbs/testdb/colls/testcoll/docs/item 1\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=qPggUuXZmcYNpeDo1aG9DhGjtC850Ua61/pMsFk4raQ=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DqPggUuXZmcYNpeDo1aG9DhGjtC850Ua61%2FpMsFk4raQ%3D"
    },
    {
      "desc": "delete item",
      "verb": "DELETE",
      "resourceType": "docs",
      "resourceLink": "dbs/testdb/colls/testcoll/docs/item 1",
      "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
      "string_to_sign": "delete\ndocs\ndbs/testdb/colls/testcoll/docs/item 1\ntue, 01 jan 2030 00:00:00 gmt\n\n",
      "token": "type=master&ver=1.0&sig=wUVZynvfvxjdCET5wTDToOF3eNrPosI5DDPenU76WiI=",
      "authorization_header_on_wire": "type%3Dmaster%26ver%3D1.0%26sig%3DwUVZynvfvxjdCET5wTDToOF3eNrPosI5DDPenU76WiI%3D"
    }
  ],
  "shared_key": [
    {
      "desc": "Put Blob (path-style emulator URL, blob name with space)",
      "account": "devstoreaccount1",
      "method": "PUT",
      "url": "http://127.0.0.1:10000/devstoreaccount1/ctr1/dir/small%20file.txt",
      "headers": {
        "x-ms-blob-type": "BlockBlob",
        "If-None-Match": "*",
        "x-ms-version": "2026-10-06",
        "Content-Type": "application/octet-stream",
        "Content-Length": "11",
        "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
        "x-ms-client-request-id": "00000000-0000-0000-0000-000000000001"
      },
      "string_to_sign": "PUT\n\n\n11\n\napplication/octet-stream\n\n\n\n*\n\n\nx-ms-blob-type:BlockBlob\nx-ms-client-request-id:00000000-0000-0000-0000-000000000001\nx-ms-date:Tue, 01 Jan 2030 00:00:00 GMT\nx-ms-version:2026-10-06\n/devstoreaccount1/devstoreaccount1/ctr1/dir/small%20file.txt",
      "authorization": "SharedKey devstoreaccount1:Prj9b544+tpUWNCIWEbXNAj8bnP3Mm2qYhvMNM3Kn5k="
    },
    {
      "desc": "Create container",
      "account": "devstoreaccount1",
      "method": "PUT",
      "url": "http://127.0.0.1:10000/devstoreaccount1/ctr1?restype=container",
      "headers": {
        "x-ms-version": "2026-10-06",
        "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
        "Content-Length": "0",
        "x-ms-client-request-id": "00000000-0000-0000-0000-000000000002"
      },
      "string_to_sign": "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-client-request-id:00000000-0000-0000-0000-000000000002\nx-ms-date:Tue, 01 Jan 2030 00:00:00 GMT\nx-ms-version:2026-10-06\n/devstoreaccount1/devstoreaccount1/ctr1\nrestype:container",
      "authorization": "SharedKey devstoreaccount1:ZE0UdCdbdimLjRiNB/lS8xhhK8HGKqhIKVNrnWXnwcQ="
    },
    {
      "desc": "List blobs with prefix + marker",
      "account": "devstoreaccount1",
      "method": "GET",
      "url": "http://127.0.0.1:10000/devstoreaccount1/ctr1?restype=container&comp=list&prefix=dir/&marker=dir/small%20file.txt&maxresults=1",
      "headers": {
        "x-ms-version": "2026-10-06",
        "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
        "Accept": "application/xml",
        "x-ms-client-request-id": "00000000-0000-0000-0000-000000000003"
      },
      "string_to_sign": "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-client-request-id:00000000-0000-0000-0000-000000000003\nx-ms-date:Tue, 01 Jan 2030 00:00:00 GMT\nx-ms-version:2026-10-06\n/devstoreaccount1/devstoreaccount1/ctr1\ncomp:list\nmarker:dir/small file.txt\nmaxresults:1\nprefix:dir/\nrestype:container",
      "authorization": "SharedKey devstoreaccount1:ybCJE+aKd2Cms/kLdsTLoFDotqeERcJWM4RDYLr59fo="
    },
    {
      "desc": "Ranged Get Blob (chunk 2) with If-Match",
      "account": "devstoreaccount1",
      "method": "GET",
      "url": "http://127.0.0.1:10000/devstoreaccount1/ctr1/dir/blocky.bin",
      "headers": {
        "x-ms-range": "bytes=1024-2047",
        "If-Match": "\"0x8D0000000000001\"",
        "x-ms-version": "2026-10-06",
        "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
        "x-ms-client-request-id": "00000000-0000-0000-0000-000000000004"
      },
      "string_to_sign": "GET\n\n\n\n\n\n\n\n\"0x8D0000000000001\"\n\n\n\nx-ms-client-request-id:00000000-0000-0000-0000-000000000004\nx-ms-date:Tue, 01 Jan 2030 00:00:00 GMT\nx-ms-range:bytes=1024-2047\nx-ms-version:2026-10-06\n/devstoreaccount1/devstoreaccount1/ctr1/dir/blocky.bin",
      "authorization": "SharedKey devstoreaccount1:0lBsC61Bz0kGJ+mYRhvDqppTeHjO6x/i2DPmbvUTmoI="
    },
    {
      "desc": "Put Block",
      "account": "devstoreaccount1",
      "method": "PUT",
      "url": "http://127.0.0.1:10000/devstoreaccount1/ctr1/big.bin?comp=block&blockid=MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw",
      "headers": {
        "x-ms-version": "2026-10-06",
        "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
        "Content-Length": "4",
        "Content-Type": "application/octet-stream",
        "x-ms-client-request-id": "00000000-0000-0000-0000-000000000005"
      },
      "string_to_sign": "PUT\n\n\n4\n\napplication/octet-stream\n\n\n\n\n\n\nx-ms-client-request-id:00000000-0000-0000-0000-000000000005\nx-ms-date:Tue, 01 Jan 2030 00:00:00 GMT\nx-ms-version:2026-10-06\n/devstoreaccount1/devstoreaccount1/ctr1/big.bin\nblockid:MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw\ncomp:block",
      "authorization": "SharedKey devstoreaccount1:5NFo7RWI2vl+2qZQJWERDVD8qTG+VrlBm8qJbD9n/rY="
    },
    {
      "desc": "Production-style host (account in hostname)",
      "account": "myaccount",
      "method": "GET",
      "url": "https://myaccount.blob.core.windows.net/ctr1/a.txt",
      "headers": {
        "x-ms-version": "2026-10-06",
        "x-ms-date": "Tue, 01 Jan 2030 00:00:00 GMT",
        "x-ms-client-request-id": "00000000-0000-0000-0000-000000000006"
      },
      "string_to_sign": "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-client-request-id:00000000-0000-0000-0000-000000000006\nx-ms-date:Tue, 01 Jan 2030 00:00:00 GMT\nx-ms-version:2026-10-06\n/myaccount/ctr1/a.txt",
      "authorization": "SharedKey myaccount:v5ZHkMPPbubhSyNTlwTUC/IGsdZ08kVvoP8oPuwLnGc="
    }
  ],
  "service_sas": [
    {
      "desc": "blob SAS, read, expiry only (toolbox-like)",
      "inputs": {
        "account_name": "devstoreaccount1",
        "container_name": "ctr1",
        "blob_name": "dir/small file.txt",
        "permission": "r",
        "expiry": "2030-01-01 01:00:00+00:00"
      },
      "string_to_sign": "r\n\n2030-01-01T01:00:00Z\n/blob/devstoreaccount1/ctr1/dir/small file.txt\n\n\n\n2026-10-06\nb\n\n\n\n\n\n\n",
      "token": "se=2030-01-01T01%3A00%3A00Z&sp=r&sv=2026-10-06&sr=b&sig=fO92DvhOczgmvIIQ51s/wZwgHwiANyHxObHm6QH5Uio%3D"
    },
    {
      "desc": "blob SAS, rcw, start+expiry, https only, content-type override",
      "inputs": {
        "account_name": "devstoreaccount1",
        "container_name": "ctr1",
        "blob_name": "reports/r1.txt",
        "permission": "rcw",
        "expiry": "2030-01-01 01:00:00+00:00",
        "start": "2030-01-01 00:00:00+00:00",
        "protocol": "https",
        "content_type": "text/plain"
      },
      "string_to_sign": "rcw\n2030-01-01T00:00:00Z\n2030-01-01T01:00:00Z\n/blob/devstoreaccount1/ctr1/reports/r1.txt\n\n\nhttps\n2026-10-06\nb\n\n\n\n\n\n\ntext/plain",
      "token": "st=2030-01-01T00%3A00%3A00Z&se=2030-01-01T01%3A00%3A00Z&sp=rcw&spr=https&sv=2026-10-06&sr=b&rsct=text/plain&sig=d3seak2hYetqsTuojMUSYcce3WJCMuq/rOY64BCrIQI%3D"
    },
    {
      "desc": "container SAS rl",
      "inputs": {
        "account_name": "devstoreaccount1",
        "container_name": "ctr1",
        "permission": "rl",
        "expiry": "2030-01-01 01:00:00+00:00"
      },
      "string_to_sign": "rl\n\n2030-01-01T01:00:00Z\n/blob/devstoreaccount1/ctr1\n\n\n\n2026-10-06\nc\n\n\n\n\n\n\n",
      "token": "se=2030-01-01T01%3A00%3A00Z&sp=rl&sv=2026-10-06&sr=c&sig=Pp1xBHUlmlUfh/IWVT2KjYtnZmFTTwDY2KPYc3Eqqk8%3D"
    }
  ],
  "user_delegation_sas": [
    {
      "desc": "UD SAS, read, expiry only (what toolbox get_blob_sas_token produces)",
      "inputs": {
        "account_name": "devstoreaccount1",
        "container_name": "ctr1",
        "blob_name": "dir/small file.txt",
        "user_delegation_key": {
          "signed_oid": "11111111-2222-3333-4444-555555555555",
          "signed_tid": "66666666-7777-8888-9999-000000000000",
          "signed_delegated_user_tid": null,
          "signed_start": "2030-01-01T00:00:00Z",
          "signed_expiry": "2030-01-02T00:00:00Z",
          "signed_service": "b",
          "signed_version": "2026-10-06",
          "value": "KugMq8jkzpwcio5Mh0uPo344VYA6fS0eaGVxJO8oxXk="
        },
        "permission": "r",
        "expiry": "2030-01-01 01:00:00+00:00"
      },
      "string_to_sign": "r\n\n2030-01-01T01:00:00Z\n/blob/devstoreaccount1/ctr1/dir/small file.txt\n11111111-2222-3333-4444-555555555555\n66666666-7777-8888-9999-000000000000\n2030-01-01T00:00:00Z\n2030-01-02T00:00:00Z\nb\n2026-10-06\n\n\n\n\n\n\n\n2026-10-06\nb\n\n\n\n\n\n\n\n\n",
      "token": "se=2030-01-01T01%3A00%3A00Z&sp=r&sv=2026-10-06&sr=b&skoid=11111111-2222-3333-4444-555555555555&sktid=66666666-7777-8888-9999-000000000000&skt=2030-01-01T00%3A00%3A00Z&ske=2030-01-02T00%3A00%3A00Z&sks=b&skv=2026-10-06&sig=WKueTPziF0DHzColW0DH5ZY6QlvF4vnlM3u%2BDwzErSc%3D"
    },
    {
      "desc": "UD SAS, read, start+expiry+https",
      "inputs": {
        "account_name": "devstoreaccount1",
        "container_name": "tbctr",
        "blob_name": "reports/r1.txt",
        "user_delegation_key": {
          "signed_oid": "11111111-2222-3333-4444-555555555555",
          "signed_tid": "66666666-7777-8888-9999-000000000000",
          "signed_delegated_user_tid": null,
          "signed_start": "2030-01-01T00:00:00Z",
          "signed_expiry": "2030-01-02T00:00:00Z",
          "signed_service": "b",
          "signed_version": "2026-10-06",
          "value": "KugMq8jkzpwcio5Mh0uPo344VYA6fS0eaGVxJO8oxXk="
        },
        "permission": "r",
        "expiry": "2030-01-01 01:00:00+00:00",
        "start": "2030-01-01 00:00:00+00:00",
        "protocol": "https"
      },
      "string_to_sign": "r\n2030-01-01T00:00:00Z\n2030-01-01T01:00:00Z\n/blob/devstoreaccount1/tbctr/reports/r1.txt\n11111111-2222-3333-4444-555555555555\n66666666-7777-8888-9999-000000000000\n2030-01-01T00:00:00Z\n2030-01-02T00:00:00Z\nb\n2026-10-06\n\n\n\n\n\n\nhttps\n2026-10-06\nb\n\n\n\n\n\n\n\n\n",
      "token": "st=2030-01-01T00%3A00%3A00Z&se=2030-01-01T01%3A00%3A00Z&sp=r&spr=https&sv=2026-10-06&sr=b&skoid=11111111-2222-3333-4444-555555555555&sktid=66666666-7777-8888-9999-000000000000&skt=2030-01-01T00%3A00%3A00Z&ske=2030-01-02T00%3A00%3A00Z&sks=b&skv=2026-10-06&sig=XsunFWDQ5j/2x1GsM/aQuygtubHlS6EpGJaAcfPF5cE%3D"
    }
  ]
}
"""#
