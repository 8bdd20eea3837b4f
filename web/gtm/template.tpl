___TERMS_OF_SERVICE___

By creating or modifying this file you agree to Google Tag Manager's Community
Template Gallery Developer Terms of Service available at
https://developers.google.com/tag-manager/gallery-tos (or such other URL as
Google may provide), as modified from time to time.


___INFO___

{
  "type": "TAG",
  "id": "cvt_temp_public_id",
  "version": 1,
  "securityGroups": [],
  "displayName": "consentd consent banner",
  "categories": ["TAG_MANAGEMENT", "UTILITY"],
  "brand": {
    "id": "brand_dummy",
    "displayName": "consentd"
  },
  "description": "Loads the consentd consent banner from your consentd server, sets the Google Consent Mode v2 defaults per region before any tag, and updates the consent state from the visitor's choice (and at every change). Fire it on the Consent Initialization - All Pages trigger.",
  "containerContexts": ["WEB"]
}


___TEMPLATE_PARAMETERS___

[
  {
    "type": "TEXT",
    "name": "consentdUrl",
    "displayName": "consentd server (https://consent.example.com)",
    "simpleValueType": true,
    "valueValidators": [
      { "type": "NON_EMPTY" },
      { "type": "REGEX", "args": ["^https://[^/?#]+(/[^?#]*[^/?#])?$"] }
    ],
    "help": "The address of your consentd server, https, without a trailing slash. Edit the template's 'Injects scripts' permission to allow it."
  },
  {
    "type": "TEXT",
    "name": "siteId",
    "displayName": "Site id",
    "simpleValueType": true,
    "valueValidators": [
      { "type": "NON_EMPTY" },
      { "type": "REGEX", "args": ["^[A-Za-z0-9_-]{1,64}$"] }
    ],
    "help": "The id of this site in consentd (the name of its site file)."
  },
  {
    "type": "PARAM_TABLE",
    "name": "defaults",
    "displayName": "Default consent state, per region (before the visitor's choice)",
    "paramTableColumns": [
      {
        "param": {
          "type": "TEXT",
          "name": "region",
          "displayName": "Regions (ISO 3166-2, comma-separated; empty: everywhere else)",
          "simpleValueType": true
        },
        "isUnique": true
      },
      { "param": { "type": "SELECT", "name": "ad_storage", "displayName": "ad_storage", "selectItems": [{ "value": "denied", "displayValue": "denied" }, { "value": "granted", "displayValue": "granted" }], "simpleValueType": true, "defaultValue": "denied" }, "isUnique": false },
      { "param": { "type": "SELECT", "name": "analytics_storage", "displayName": "analytics_storage", "selectItems": [{ "value": "denied", "displayValue": "denied" }, { "value": "granted", "displayValue": "granted" }], "simpleValueType": true, "defaultValue": "denied" }, "isUnique": false },
      { "param": { "type": "SELECT", "name": "ad_user_data", "displayName": "ad_user_data", "selectItems": [{ "value": "denied", "displayValue": "denied" }, { "value": "granted", "displayValue": "granted" }], "simpleValueType": true, "defaultValue": "denied" }, "isUnique": false },
      { "param": { "type": "SELECT", "name": "ad_personalization", "displayName": "ad_personalization", "selectItems": [{ "value": "denied", "displayValue": "denied" }, { "value": "granted", "displayValue": "granted" }], "simpleValueType": true, "defaultValue": "denied" }, "isUnique": false },
      { "param": { "type": "SELECT", "name": "functionality_storage", "displayName": "functionality_storage", "selectItems": [{ "value": "denied", "displayValue": "denied" }, { "value": "granted", "displayValue": "granted" }], "simpleValueType": true, "defaultValue": "denied" }, "isUnique": false },
      { "param": { "type": "SELECT", "name": "personalization_storage", "displayName": "personalization_storage", "selectItems": [{ "value": "denied", "displayValue": "denied" }, { "value": "granted", "displayValue": "granted" }], "simpleValueType": true, "defaultValue": "denied" }, "isUnique": false },
      { "param": { "type": "SELECT", "name": "security_storage", "displayName": "security_storage", "selectItems": [{ "value": "denied", "displayValue": "denied" }, { "value": "granted", "displayValue": "granted" }], "simpleValueType": true, "defaultValue": "granted" }, "isUnique": false }
    ],
    "help": "One row per group of regions; the row with no region applies everywhere else. With no row at all, every type is denied everywhere. The EU, the EEA, the UK and Switzerland need consent: keep them denied."
  },
  {
    "type": "TEXT",
    "name": "waitForUpdate",
    "displayName": "wait_for_update (ms)",
    "simpleValueType": true,
    "defaultValue": 500,
    "valueValidators": [{ "type": "NON_NEGATIVE_NUMBER" }],
    "help": "How long Google tags wait for the visitor's stored choice before firing on the default."
  },
  {
    "type": "CHECKBOX",
    "name": "adsDataRedaction",
    "checkboxText": "ads_data_redaction: redact ad click identifiers while ad_storage is denied",
    "simpleValueType": true,
    "defaultValue": true
  },
  {
    "type": "CHECKBOX",
    "name": "urlPassthrough",
    "checkboxText": "url_passthrough: pass ad click information in URLs while storage is denied",
    "simpleValueType": true,
    "defaultValue": false
  }
]


___SANDBOXED_JS_FOR_WEB_TEMPLATE___

// consentd's banner for Google Tag Manager: the Consent Mode defaults per
// region first, then the banner, then an update with the visitor's choice
// (at load, and at every change). Which consent types a purpose grants is
// said once, in consentd's site file ("consent_mode" per purpose): the
// banner computes the state (consentd.consentMode()), this template passes
// it on.
const setDefaultConsentState = require('setDefaultConsentState');
const updateConsentState = require('updateConsentState');
const gtagSet = require('gtagSet');
const injectScript = require('injectScript');
const callInWindow = require('callInWindow');
const setInWindow = require('setInWindow');
const encodeUriComponent = require('encodeUriComponent');
const makeNumber = require('makeNumber');
const getType = require('getType');
const logToConsole = require('logToConsole');

const TYPES = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization', 'functionality_storage', 'personalization_storage', 'security_storage'];
const wait = makeNumber(data.waitForUpdate);

const stateOf = (row) => {
  const state = {};
  TYPES.forEach((type) => {
    state[type] = row[type] === 'granted' ? 'granted' : 'denied';
  });
  return state;
};

// 1. The defaults: region rows, then the row for everywhere else.
const rows = getType(data.defaults) === 'array' ? data.defaults : [];
let general = false;
rows.forEach((row) => {
  const state = stateOf(row);
  const regions = [];
  (row.region || '').split(',').forEach((r) => {
    const region = r.trim();
    if (region) regions.push(region);
  });
  if (regions.length > 0) state.region = regions;
  else general = true;
  if (wait > 0) state.wait_for_update = wait;
  setDefaultConsentState(state);
});
if (!general) {
  const denied = stateOf({});
  if (wait > 0) denied.wait_for_update = wait;
  setDefaultConsentState(denied);
}
gtagSet({
  ads_data_redaction: data.adsDataRedaction === true,
  url_passthrough: data.urlPassthrough === true
});

// 2. The banner leaves the defaults to this template.
setInWindow('consentd_gtm', true, true);

// 3. The visitor's choice, now and at every change.
const update = () => {
  const state = callInWindow('consentd.consentMode');
  if (getType(state) !== 'object') return;
  const granted = {};
  TYPES.forEach((type) => {
    if (state[type] === 'granted' || state[type] === 'denied') granted[type] = state[type];
  });
  updateConsentState(granted);
};

const url = data.consentdUrl + '/v1/sites/' + encodeUriComponent(data.siteId) + '/banner.js';
injectScript(url, () => {
  update();
  callInWindow('consentd.onChange', update);
  data.gtmOnSuccess();
}, () => {
  logToConsole('consentd: the banner could not be loaded from ' + url);
  data.gtmOnFailure();
}, 'consentd-banner');


___WEB_PERMISSIONS___

[
  {
    "instance": {
      "key": { "publicId": "access_consent", "versionId": "1" },
      "param": [
        {
          "key": "consentTypes",
          "value": {
            "type": 2,
            "listItem": [
              { "type": 3, "mapKey": [{ "type": 1, "string": "consentType" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }], "mapValue": [{ "type": 1, "string": "ad_storage" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] },
              { "type": 3, "mapKey": [{ "type": 1, "string": "consentType" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }], "mapValue": [{ "type": 1, "string": "analytics_storage" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] },
              { "type": 3, "mapKey": [{ "type": 1, "string": "consentType" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }], "mapValue": [{ "type": 1, "string": "ad_user_data" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] },
              { "type": 3, "mapKey": [{ "type": 1, "string": "consentType" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }], "mapValue": [{ "type": 1, "string": "ad_personalization" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] },
              { "type": 3, "mapKey": [{ "type": 1, "string": "consentType" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }], "mapValue": [{ "type": 1, "string": "functionality_storage" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] },
              { "type": 3, "mapKey": [{ "type": 1, "string": "consentType" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }], "mapValue": [{ "type": 1, "string": "personalization_storage" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] },
              { "type": 3, "mapKey": [{ "type": 1, "string": "consentType" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }], "mapValue": [{ "type": 1, "string": "security_storage" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] }
            ]
          }
        }
      ]
    },
    "clientAnnotations": { "isEditedByUser": true },
    "isRequired": true
  },
  {
    "instance": {
      "key": { "publicId": "write_data_layer", "versionId": "1" },
      "param": [
        { "key": "keyPatterns", "value": { "type": 2, "listItem": [{ "type": 1, "string": "ads_data_redaction" }, { "type": 1, "string": "url_passthrough" }] } }
      ]
    },
    "clientAnnotations": { "isEditedByUser": true },
    "isRequired": true
  },
  {
    "instance": {
      "key": { "publicId": "inject_script", "versionId": "1" },
      "param": [
        { "key": "urls", "value": { "type": 2, "listItem": [{ "type": 1, "string": "https://consent.example.com/v1/sites/*" }] } }
      ]
    },
    "clientAnnotations": { "isEditedByUser": true },
    "isRequired": true
  },
  {
    "instance": {
      "key": { "publicId": "access_globals", "versionId": "1" },
      "param": [
        {
          "key": "keys",
          "value": {
            "type": 2,
            "listItem": [
              { "type": 3, "mapKey": [{ "type": 1, "string": "key" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }, { "type": 1, "string": "execute" }], "mapValue": [{ "type": 1, "string": "consentd_gtm" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }, { "type": 8, "boolean": false }] },
              { "type": 3, "mapKey": [{ "type": 1, "string": "key" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }, { "type": 1, "string": "execute" }], "mapValue": [{ "type": 1, "string": "consentd.consentMode" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] },
              { "type": 3, "mapKey": [{ "type": 1, "string": "key" }, { "type": 1, "string": "read" }, { "type": 1, "string": "write" }, { "type": 1, "string": "execute" }], "mapValue": [{ "type": 1, "string": "consentd.onChange" }, { "type": 8, "boolean": false }, { "type": 8, "boolean": false }, { "type": 8, "boolean": true }] }
            ]
          }
        }
      ]
    },
    "clientAnnotations": { "isEditedByUser": true },
    "isRequired": true
  },
  {
    "instance": {
      "key": { "publicId": "logging", "versionId": "1" },
      "param": [{ "key": "environments", "value": { "type": 1, "string": "debug" } }]
    },
    "clientAnnotations": { "isEditedByUser": true },
    "isRequired": true
  }
]


___TESTS___

scenarios:
- name: Defaults per region come first, then the banner, then the stored choice
  code: |-
    mock('injectScript', (url, onSuccess, onFailure) => {
      assertThat(url).isEqualTo('https://consent.example.com/v1/sites/shop/banner.js');
      onSuccess();
    });
    mock('callInWindow', (name, fn) => {
      if (name === 'consentd.consentMode') return {ad_storage: 'granted', analytics_storage: 'denied'};
      return undefined;
    });
    runCode(mockData);
    assertApi('setDefaultConsentState').wasCalledWith({ad_storage: 'denied', analytics_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied', functionality_storage: 'denied', personalization_storage: 'denied', security_storage: 'granted', region: ['FR', 'DE'], wait_for_update: 500});
    assertApi('setDefaultConsentState').wasCalledWith({ad_storage: 'granted', analytics_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'granted', functionality_storage: 'granted', personalization_storage: 'granted', security_storage: 'granted', wait_for_update: 500});
    assertApi('gtagSet').wasCalledWith({ads_data_redaction: true, url_passthrough: false});
    assertApi('setInWindow').wasCalledWith('consentd_gtm', true, true);
    assertApi('updateConsentState').wasCalledWith({ad_storage: 'granted', analytics_storage: 'denied'});
    assertApi('gtmOnSuccess').wasCalled();
- name: No row at all denies every type everywhere
  code: |-
    mock('injectScript', (url, onSuccess) => onSuccess());
    mockData.defaults = [];
    runCode(mockData);
    assertApi('setDefaultConsentState').wasCalledWith({ad_storage: 'denied', analytics_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied', functionality_storage: 'denied', personalization_storage: 'denied', security_storage: 'denied', wait_for_update: 500});
    assertApi('updateConsentState').wasNotCalled();
- name: A banner that does not load fails the tag and says why
  code: |-
    mock('injectScript', (url, onSuccess, onFailure) => onFailure());
    runCode(mockData);
    assertApi('gtmOnFailure').wasCalled();
    assertApi('gtmOnSuccess').wasNotCalled();
    assertApi('updateConsentState').wasNotCalled();
setup: |-
  const mockData = {
    consentdUrl: 'https://consent.example.com',
    siteId: 'shop',
    waitForUpdate: '500',
    adsDataRedaction: true,
    urlPassthrough: false,
    defaults: [
      {region: 'FR, DE', ad_storage: 'denied', analytics_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied', functionality_storage: 'denied', personalization_storage: 'denied', security_storage: 'granted'},
      {region: '', ad_storage: 'granted', analytics_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'granted', functionality_storage: 'granted', personalization_storage: 'granted', security_storage: 'granted'}
    ]
  };


___NOTES___

consentd (https://github.com/consentd/consentd): web/gtm/template.tpl.
Import it in Google Tag Manager: Templates, Tag Templates, New, the menu,
Import. Then edit the 'Injects scripts' permission to your consentd server.
